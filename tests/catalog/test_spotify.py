"""The Spotify client against a fake Spotify: tokens, mapping, market, auth failures."""

from __future__ import annotations

import asyncio

import pytest

from queueit.catalog.errors import CatalogUnavailable
from tests.catalog.conftest import (
    SPOTIFY_SEARCH,
    TOKEN_PATH,
    CatalogFactory,
    catalog_settings,
    spotify_overrides,
)
from tests.catalog.fake_server import Call, FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, spotify_item, spotify_search


def _ok_search(call: Call) -> Reply:
    query = call.param("q") or ""
    return Reply(200, spotify_search([spotify_item(f"id-{len(query)}", name=query)]))


async def test_search_maps_spotify_tracks(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    item = spotify_item(
        "4uLU6hMCjMI75M1A2tKUQC",
        name="Never Gonna Give You Up",
        artists=["Rick Astley", "Guest"],
        album="Whenever You Need Somebody",
        duration_ms=213_573,
        isrc="gbarl9300135",
        explicit=True,
    )
    fake.route("GET", SPOTIFY_SEARCH, Reply(200, spotify_search([item])))
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    results = await catalog.search(query="rick", limit=5, market="gb")

    assert results.source == "spotify"
    (track,) = results.tracks
    assert track.model_dump() == {
        "id": "4uLU6hMCjMI75M1A2tKUQC",
        "isrc": "GBARL9300135",
        "name": "Never Gonna Give You Up",
        "artists": "Rick Astley & Guest",
        "album": "Whenever You Need Somebody",
        "duration_ms": 213_573,
        "image_url": "https://i.scdn.co/image/large",
        "source": "spotify",
        "explicit": True,
    }
    (call,) = fake.calls_to(SPOTIFY_SEARCH)
    assert call.param("q") == "rick"
    assert call.param("type") == "track"
    assert call.param("limit") == "5"
    assert call.param("market") == "GB"
    assert call.headers["authorization"] == "Bearer tok-1"


async def test_malformed_items_are_skipped_not_fatal(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    no_name = spotify_item("no-name")
    del no_name["name"]
    no_artists = spotify_item("no-artists", artists=[])
    bad_duration = spotify_item("bad-duration")
    bad_duration["duration_ms"] = "long"
    bad_image = spotify_item("plain-http-image")
    bad_image["album"]["images"] = [{"url": "http://insecure/img", "width": 640, "height": 640}]
    weird_isrc = spotify_item("weird-isrc", isrc="not an isrc")
    unplayable = {**spotify_item("unplayable"), "is_playable": False}
    items = [None, "text", no_name, no_artists, bad_duration, bad_image, weird_isrc, unplayable]
    fake.route("GET", SPOTIFY_SEARCH, Reply(200, spotify_search(items)))
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    results = await catalog.search(query="anything", limit=10, market="us")

    by_id = {t.id: t for t in results.tracks}
    assert set(by_id) == {"plain-http-image", "weird-isrc"}
    assert by_id["plain-http-image"].image_url is None
    assert by_id["weird-isrc"].isrc == ""


async def test_concurrent_searches_fetch_one_token(
    fake: FakeServer, make_catalog: CatalogFactory
) -> None:
    fake.route("POST", TOKEN_PATH, TokenEndpoint(delay=0.2))
    fake.route("GET", SPOTIFY_SEARCH, _ok_search)
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    results = await asyncio.gather(
        *(catalog.search(query=f"query {i}", limit=1, market="us") for i in range(20))
    )

    assert all(len(r.tracks) == 1 for r in results)
    assert len(fake.calls_to(TOKEN_PATH)) == 1
    searches = fake.calls_to(SPOTIFY_SEARCH)
    assert len(searches) == 20
    assert {c.headers["authorization"] for c in searches} == {"Bearer tok-1"}


async def test_token_is_renewed_before_it_expires(
    fake: FakeServer, make_catalog: CatalogFactory
) -> None:
    fake.route("POST", TOKEN_PATH, TokenEndpoint(expires_in=2))
    fake.route("GET", SPOTIFY_SEARCH, _ok_search)
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    await catalog.search(query="one", limit=1, market="us")
    await catalog.search(query="two", limit=1, market="us")
    assert len(fake.calls_to(TOKEN_PATH)) == 1
    await asyncio.sleep(1.1)  # a 2 s token is renewed after half its life, before it expires
    await catalog.search(query="three", limit=1, market="us")

    assert len(fake.calls_to(TOKEN_PATH)) == 2
    assert fake.calls_to(SPOTIFY_SEARCH)[-1].headers["authorization"] == "Bearer tok-2"


async def test_a_revoked_token_is_replaced_once(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    def search(call: Call) -> Reply:
        if call.headers["authorization"] == "Bearer tok-1":
            return Reply(401, {"error": {"status": 401, "message": "The access token expired"}})
        return _ok_search(call)

    fake.route("GET", SPOTIFY_SEARCH, search)
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    results = await catalog.search(query="hello", limit=1, market="us")

    assert len(results.tracks) == 1
    assert len(fake.calls_to(TOKEN_PATH)) == 2


@pytest.mark.parametrize("status", [401, 403])
async def test_provider_auth_failure_is_503_never_401(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory, status: int
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(status, {"error": {"status": status}}))
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    with pytest.raises(CatalogUnavailable) as raised:
        await catalog.search(query="hello", limit=1, market="us")

    assert raised.value.status_code == 503
    assert raised.value.code == "catalog_unavailable"
    assert catalog.health() == "ok"  # not a rate limit: no circuit


async def test_rejected_credentials_are_503(fake: FakeServer, make_catalog: CatalogFactory) -> None:
    fake.route("POST", TOKEN_PATH, Reply(400, {"error": "invalid_client"}))
    fake.route("GET", SPOTIFY_SEARCH, _ok_search)
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    with pytest.raises(CatalogUnavailable):
        await catalog.search(query="hello", limit=1, market="us")
    assert fake.calls_to(SPOTIFY_SEARCH) == []


async def test_get_track_and_isrc_lookup(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", "/v1/tracks/abc123", Reply(200, spotify_item("abc123", name="Found")))
    fake.route(
        "GET",
        SPOTIFY_SEARCH,
        Reply(200, spotify_search([spotify_item("x", isrc="USABC1234567", album_type="single")])),
    )
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))
    provider = catalog.provider("spotify")

    track = await provider.get_track("abc123", market="us")
    assert track is not None and track.name == "Found"
    assert await provider.get_track("missing1", market="us") is None  # fake answers 404
    assert await provider.get_track("../etc", market="us") is None  # never put in a URL

    (candidate,) = await provider.find_by_isrc("USABC1234567", market="us")
    assert candidate.album_type == "single"
    assert fake.calls_to(SPOTIFY_SEARCH)[-1].param("q") == "isrc:USABC1234567"
