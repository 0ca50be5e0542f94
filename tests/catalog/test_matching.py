"""Cross-catalog resolution (DOMAIN.md "Adding songs") over the real clients and a fake API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from queueit.catalog.errors import CatalogUnavailable, TrackUnavailable
from queueit.catalog.matching import artists_similar, core_title
from queueit.catalog.schemas import Track
from queueit.catalog.service import CatalogService
from tests.catalog.conftest import (
    SPOTIFY_SEARCH,
    CatalogFactory,
    apple_overrides,
    catalog_settings,
    counter,
    spotify_overrides,
)
from tests.catalog.fake_server import FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, apple_search, apple_song, spotify_item
from tests.catalog.payloads import spotify_search as spotify_results

ISRC = "USSM18200001"
APPLE_ISRC = "/v1/catalog/us/songs"
APPLE_SEARCH = "/v1/catalog/us/search"


def spotify_track(**overrides: Any) -> Track:
    values: dict[str, Any] = {
        "id": "sp-beat-it",
        "isrc": ISRC,
        "name": "Beat It",
        "artists": "Michael Jackson",
        "album": "Thriller",
        "duration_ms": 258_000,
        "image_url": None,
        "source": "spotify",
        "explicit": False,
    }
    values.update(overrides)
    return Track.model_validate(values)


def beat_it(song_id: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Beat It",
        "artist": "Michael Jackson",
        "album": "Thriller",
        "duration_ms": 258_000,
        "isrc": ISRC,
    }
    values.update(overrides)
    return apple_song(song_id, **values)


@pytest.fixture
async def catalog(
    fake: FakeServer,
    tokens: TokenEndpoint,
    apple_key: ec.EllipticCurvePrivateKey,
    make_catalog: CatalogFactory,
) -> CatalogService:
    settings = catalog_settings(**spotify_overrides(fake), **apple_overrides(fake, apple_key))
    return await make_catalog(settings)


async def _to_apple(catalog: CatalogService, track: Track) -> Track:
    return await catalog.resolve_for_host(track, host_provider="apple", storefront="us")


async def test_isrc_prefers_the_same_album_over_compilations_and_singles(
    fake: FakeServer, catalog: CatalogService
) -> None:
    versions = [
        beat_it("comp", album="Now That's What I Call the 80s", is_compilation=True),
        beat_it("single", album="Beat It - Single", is_single=True),
        beat_it("deluxe", album="Thriller 25 (Super Deluxe Edition)", is_compilation=False),
        beat_it("album", album="Thriller", duration_ms=258_400, is_compilation=False),
    ]
    fake.route("GET", APPLE_ISRC, Reply(200, {"data": versions}))

    resolved = await _to_apple(catalog, spotify_track())

    assert (resolved.id, resolved.source, resolved.album) == ("album", "apple_music", "Thriller")
    assert fake.calls_to(APPLE_ISRC)[0].param("filter[isrc]") == ISRC
    assert fake.calls_to(APPLE_SEARCH) == []


async def test_isrc_without_the_same_album_prefers_non_compilation_of_the_same_type(
    fake: FakeServer, catalog: CatalogService
) -> None:
    versions = [
        beat_it("comp", album="80s Hits", is_compilation=True),
        beat_it("single", album="Beat It - Single", is_single=True),
        beat_it("album", album="Thriller", is_compilation=False),
    ]
    fake.route("GET", APPLE_ISRC, Reply(200, {"data": versions}))

    from_album = await _to_apple(catalog, spotify_track(album="The Essential Michael Jackson"))
    from_single = await _to_apple(catalog, spotify_track(id="sp-single", album="Beat It"))

    assert from_album.id == "album"
    assert from_single.id == "single"


async def test_search_fallback_accepts_only_close_duration_and_similar_names(
    fake: FakeServer, catalog: CatalogService
) -> None:
    fake.route("GET", APPLE_ISRC, Reply(200, {"data": []}))
    results = [
        beat_it("too-long", duration_ms=258_000 + 3_500),
        beat_it("live", name="Beat It (Live)", duration_ms=259_000),
        beat_it("cover", artist="Fall Out Boy & John Mayer", duration_ms=258_500),
        beat_it("other-song", name="Billie Jean", duration_ms=258_000),
        beat_it("match", name="Beat It (Single Version)", duration_ms=258_000 - 2_500),
    ]
    fake.route("GET", APPLE_SEARCH, Reply(200, apple_search(results)))
    before = counter("queueit_catalog_resolutions_total", target="apple_music", outcome="search")

    resolved = await _to_apple(catalog, spotify_track(artists="Michael Jackson & Someone"))

    assert resolved.id == "match"
    (call,) = fake.calls_to(APPLE_SEARCH)
    assert call.param("term") == "Michael Jackson Beat It"
    after = counter("queueit_catalog_resolutions_total", target="apple_music", outcome="search")
    assert after - before == 1


@pytest.mark.parametrize(("gap", "found"), [(3_000, True), (-3_000, True), (3_001, False)])
async def test_duration_window_is_three_seconds(
    fake: FakeServer, catalog: CatalogService, gap: int, found: bool
) -> None:
    fake.route("GET", APPLE_ISRC, Reply(200, {"data": []}))
    fake.route(
        "GET", APPLE_SEARCH, Reply(200, apple_search([beat_it("x", duration_ms=258_000 + gap)]))
    )
    if found:
        assert (await _to_apple(catalog, spotify_track())).id == "x"
    else:
        with pytest.raises(TrackUnavailable) as raised:
            await _to_apple(catalog, spotify_track())
        assert raised.value.status_code == 422
        assert raised.value.code == "track_unavailable"


async def test_no_isrc_and_no_duration_cannot_match(
    fake: FakeServer, catalog: CatalogService
) -> None:
    with pytest.raises(TrackUnavailable):
        await _to_apple(catalog, spotify_track(isrc="", duration_ms=0))
    assert fake.calls_to(APPLE_ISRC) == []
    assert fake.calls_to(APPLE_SEARCH) == []


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [(Reply(500, {}), None), (Reply(429, {}, headers={"Retry-After": "9"}), "9")],
)
async def test_provider_errors_are_503_never_unavailable(
    fake: FakeServer, catalog: CatalogService, reply: Reply, retry_after: str | None
) -> None:
    fake.route("GET", APPLE_ISRC, reply)

    with pytest.raises(CatalogUnavailable) as raised:
        await _to_apple(catalog, spotify_track())

    assert raised.value.status_code == 503
    assert raised.value.headers.get("Retry-After") == retry_after
    # The failure is not cached as "unavailable": the next try asks again.
    fake.route("GET", APPLE_ISRC, Reply(200, {"data": [beat_it("album")]}))
    if retry_after is None:
        assert (await _to_apple(catalog, spotify_track())).id == "album"


async def test_resolutions_are_cached_both_ways(fake: FakeServer, catalog: CatalogService) -> None:
    fake.route("GET", APPLE_ISRC, Reply(200, {"data": [beat_it("album")]}))
    fake.route("GET", APPLE_SEARCH, Reply(200, apple_search([])))

    first = await asyncio.gather(*(_to_apple(catalog, spotify_track()) for _ in range(5)))
    again = await _to_apple(catalog, spotify_track())
    assert {t.id for t in [*first, again]} == {"album"}
    assert len(fake.calls_to(APPLE_ISRC)) == 1

    missing = spotify_track(id="sp-missing", isrc="USSM18200002", name="Obscure")
    fake.route("GET", APPLE_ISRC, Reply(200, {"data": []}))
    for _ in range(2):
        with pytest.raises(TrackUnavailable):
            await _to_apple(catalog, missing)
    assert len(fake.calls_to(APPLE_SEARCH)) == 1


async def test_tracks_the_host_can_already_play_pass_through(
    fake: FakeServer, catalog: CatalogService
) -> None:
    spotify = spotify_track()
    local = spotify_track(id="local:michael-jackson-beat-it", source="local")
    apple = spotify_track(id="123", source="apple_music")
    cases = [
        (spotify, "spotify"),
        (spotify, "none"),
        (local, "apple"),
        (local, "spotify"),
        (apple, "apple"),
    ]
    for track, host in cases:
        assert await catalog.resolve_for_host(track, host_provider=host, storefront="us") is track
    assert fake.calls == []


async def test_apple_tracks_resolve_to_spotify_for_a_spotify_host(
    fake: FakeServer, catalog: CatalogService
) -> None:
    fake.route(
        "GET",
        SPOTIFY_SEARCH,
        Reply(200, spotify_results([spotify_item("sp-found", name="Beat It", isrc=ISRC)])),
    )
    apple = spotify_track(id="1440", source="apple_music")

    resolved = await catalog.resolve_for_host(apple, host_provider="spotify", storefront="de")

    assert (resolved.id, resolved.source) == ("sp-found", "spotify")
    call = fake.calls_to(SPOTIFY_SEARCH)[0]
    assert call.param("q") == f"isrc:{ISRC}"
    assert call.param("market") == "DE"


async def test_an_unconfigured_host_catalog_accepts_the_track_as_is(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))
    track = spotify_track()

    assert await _to_apple(catalog, track) is track
    assert fake.calls == []


def test_title_and_artist_normalisation() -> None:
    assert core_title("Song (feat. Somebody) - 2011 Remaster") == "song"
    assert core_title("Beyoncé \u2013 Radio Edit") == "beyonce"
    assert core_title("Song (Live)") == "song live"
    assert core_title("Song - Acoustic Version") == "song acoustic version"
    assert artists_similar("The Beatles", "Beatles")
    assert artists_similar("Beyonce & JAY-Z", "Beyoncé feat. JAY-Z")
    assert artists_similar("Earth, Wind & Fire", "Earth, Wind & Fire & The Emotions")
    assert not artists_similar("Michael Jackson", "Fall Out Boy & John Mayer")
