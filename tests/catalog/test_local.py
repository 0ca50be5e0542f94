"""The local catalog: the shipped demo data, ranking, and the operator's own CSV/JSON file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queueit.catalog.errors import CatalogMisconfigured
from queueit.catalog.local import (
    DEMO_CATALOG_PATH,
    LocalCatalog,
    load_local_catalog,
    load_tracks,
)
from queueit.catalog.matching import artists_similar, core_title
from queueit.catalog.normalize import cache_key_text
from queueit.catalog.schemas import Track
from tests.catalog.conftest import CatalogFactory, catalog_settings

_DEMO = load_local_catalog()


@pytest.fixture
def demo() -> LocalCatalog:
    return _DEMO


def _names(tracks: list[Track]) -> list[str]:
    return [f"{t.name} / {t.artists}" for t in tracks]


def test_demo_catalog_has_hundreds_of_valid_tracks(demo: LocalCatalog) -> None:
    raw = json.loads(DEMO_CATALOG_PATH.read_text(encoding="utf-8"))["tracks"]
    assert len(demo) == len(raw) >= 300
    ids = {t.id for t in demo.search_now("a e i o u the", limit=10_000)}
    assert all(i.startswith("local:") for i in ids)
    assert all(row["image_url"] is None for row in raw)


def test_prefix_matches(demo: LocalCatalog) -> None:
    assert demo.search_now("beat", limit=3)[0].name == "Beat It"
    assert demo.search_now("Beat I", limit=3)[0].name == "Beat It"
    assert demo.search_now("bohem rhaps", limit=1)[0].name == "Bohemian Rhapsody"


def test_accent_and_case_insensitive(demo: LocalCatalog) -> None:
    for query in ("beyonce", "BEYONCÉ", "Beyoncé"):
        results = demo.search_now(query, limit=5)
        assert results and all("Beyoncé" in t.artists for t in results), query
    assert demo.search_now("motorhead", limit=1)[0].artists == "Motörhead"
    assert demo.search_now("royksopp eple", limit=1)[0].artists == "Röyksopp"
    assert demo.search_now("acdc thunder", limit=1)[0].name == "Thunderstruck"
    assert demo.search_now("dont stop me", limit=1)[0].name == "Don't Stop Me Now"


def test_title_words_outrank_album_words(demo: LocalCatalog) -> None:
    results = demo.search_now("thriller", limit=5)
    assert results[0].name == "Thriller"
    assert {t.album for t in results[1:]} == {"Thriller"}


def test_all_words_beat_some_words(demo: LocalCatalog) -> None:
    assert _names(demo.search_now("halo beyonce", limit=1)) == ["Halo / Beyoncé"]
    assert demo.search_now("blinding lights weeknd", limit=1)[0].name == "Blinding Lights"


def test_nothing_to_find(demo: LocalCatalog) -> None:
    assert demo.search_now("zzzzqqq", limit=10) == []
    assert demo.search_now("!!!", limit=10) == []


def test_ids_are_stable_across_loads(demo: LocalCatalog) -> None:
    again = LocalCatalog(load_tracks(DEMO_CATALOG_PATH))  # parsed afresh, not the cached one
    first = demo.search_now("queen", limit=20)
    assert [t.id for t in first] == [t.id for t in again.search_now("queen", limit=20)]
    assert demo.search_now("beat it", limit=1)[0].id == "local:michael-jackson-beat-it"


async def test_lookup_by_id_and_isrc(demo: LocalCatalog) -> None:
    track = await demo.get_track("local:rick-astley-never-gonna-give-you-up", market="us")
    assert track is not None and track.isrc == "GBARL9300135"
    (candidate,) = await demo.find_by_isrc("gbarl9300135", market="us")
    assert candidate.track == track


def test_search_is_fast(demo: LocalCatalog) -> None:
    started = time.perf_counter()
    for query in ("b", "be", "the", "love", "a", "beyonce crazy", "michael jackson thriller"):
        demo.search_now(query, limit=50)
    assert time.perf_counter() - started < 0.5


def test_operator_csv_is_loaded_with_the_demo(tmp_path: Path) -> None:
    path = tmp_path / "club.csv"
    path.write_text(
        "title,artist,album,year,duration,isrc,explicit,image_url\n"
        'Résumé,"DJ Café, Jr.",House Cuts,2020,3:05,ZZXYZ2000001,yes,https://img.example/a.jpg\n'
        "No Artist,,Album,2020,3:00,,,\n"
        'Second Track,Local Band,"Live, Loud",2021,4:00,,no,\n',
        encoding="utf-8",
    )
    catalog = load_local_catalog(str(path), artwork_origin="https://img.example")

    (track,) = catalog.search_now("resume cafe", limit=1)
    assert track.model_dump() == {
        "id": "local:dj-cafe-jr-resume",
        "isrc": "ZZXYZ2000001",
        "name": "Résumé",
        "artists": "DJ Café, Jr.",
        "album": "House Cuts",
        "duration_ms": 185_000,
        "image_url": "https://img.example/a.jpg",
        "source": "local",
        "explicit": True,
    }
    assert catalog.search_now("second loud", limit=1)[0].explicit is False
    assert all(t.name != "No Artist" for t in catalog.search_now("no artist", limit=5))
    assert catalog.search_now("beat it", limit=1)[0].name == "Beat It"  # demo still there


def test_local_artwork_is_kept_only_when_this_server_serves_it(tmp_path: Path) -> None:
    """Every phone and TV would fetch a catalog file's artwork URL: only this server's own
    origin (PUBLIC_BASE_URL) is allowed, any other host is dropped."""
    path = tmp_path / "club.csv"
    path.write_text(
        "title,artist,duration,image_url\n"
        "Own Art,Zyxband,3:00,https://party.example/art/own.jpg\n"
        "Tracker,Zyxband,3:00,https://evil.example/pixel.jpg\n",
        encoding="utf-8",
    )
    images = {
        t.name: t.image_url
        for t in load_local_catalog(str(path), artwork_origin="https://party.example").search_now(
            "zyxband", limit=5
        )
    }
    assert images == {"Own Art": "https://party.example/art/own.jpg", "Tracker": None}
    unset = load_local_catalog(str(path)).search_now("zyxband", limit=5)
    assert [t.image_url for t in unset] == [None, None]


def test_operator_json_with_ids_and_artist_lists(tmp_path: Path) -> None:
    path = tmp_path / "own.json"
    path.write_text(
        json.dumps(
            [
                {"id": "t-1", "name": "Duet", "artists": ["A", "B"], "duration_ms": 1000},
                {"id": "t-1", "name": "Duplicate id", "artists": "C", "duration_ms": 1000},
                {"title": "Beat It", "artists": ["Michael Jackson"], "album": "Live"},
            ]
        ),
        encoding="utf-8",
    )
    catalog = load_local_catalog(str(path))

    duet = catalog.search_now("duet", limit=1)[0]
    assert (duet.id, duet.artists) == ("local:t-1", "A & B")
    assert all(t.name != "Duplicate id" for t in catalog.search_now("duplicate id", limit=5))
    versions = [t for t in catalog.search_now("beat it", limit=5) if t.name == "Beat It"]
    assert len({t.id for t in versions}) == 2  # same slug, different album: distinct ids


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.csv", None), ("bad.json", "{not json"), ("catalog.txt", "x"), ("obj.json", "{}")],
)
def test_a_broken_operator_file_stops_startup(
    tmp_path: Path, name: str, content: str | None
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogMisconfigured):
        load_local_catalog(str(path))


async def test_local_is_the_default_without_credentials(make_catalog: CatalogFactory) -> None:
    catalog = await make_catalog(catalog_settings())

    results = await catalog.search(query="  beat   ", limit=2, market="us")

    assert results.source == "local"
    assert results.tracks[0].name == "Beat It"
    assert catalog.sources == ["local"]
    assert catalog.health() == "ok"


@settings(max_examples=300, deadline=None)
@given(query=st.text(max_size=200))
def test_any_text_is_a_safe_query(query: str) -> None:
    results = _DEMO.search_now(query, limit=50)
    assert len(results) <= 50
    assert core_title(query) == core_title(query)  # deterministic, never raises
    artists_similar(query, "Artist")
    cache_key_text(query)
