"""A provider playlist as the fallback source (issue 19), read from fake Spotify and Apple
Music servers through the real clients."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.catalog.conftest import apple_overrides, spotify_overrides
from tests.catalog.fake_server import Call, FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, apple_song, spotify_item
from tests.factories import make_host, track

API = "/api/v1"
FALLBACK = f"{API}/sessions/current/fallback"
SPOTIFY_PLAYLIST = "/v1/playlists/37i9dQZF1DXcBWIGoYBM5M/tracks"
APPLE_PLAYLIST = "/v1/catalog/us/playlists/pl.u-8aAVZAaIkUNdbG/tracks"


@pytest.fixture
def settings_overrides(
    fake: FakeServer, tokens: TokenEndpoint, apple_key: ec.EllipticCurvePrivateKey
) -> dict[str, Any]:
    return {**spotify_overrides(fake), **apple_overrides(fake, apple_key)}


async def host_party(client: httpx.AsyncClient, provider: str) -> dict[str, str]:
    host = await make_host(client, provider=provider)
    code = "P" + uuid.uuid4().hex[:6].upper()
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    return host


def spotify_pages(call: Call) -> Reply:
    """Two pages of a playlist: 100 tracks, then 20 (with an episode and a local file that
    are left out)."""
    offset = int(call.param("offset") or 0)
    if offset == 0:
        items = [{"track": spotify_item(f"sp{n:03d}", name=f"Song {n}")} for n in range(100)]
        return Reply(200, {"items": items, "next": "https://api.spotify.com/next"})
    items = [{"track": spotify_item(f"sp{n:03d}", name=f"Song {n}")} for n in range(100, 120)]
    items += [{"track": None}, {"track": {"type": "episode", "id": "ep1"}}]
    return Reply(200, {"items": items, "next": None})


async def test_a_spotify_playlist_fills_the_queue_in_its_order(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    fake.route("GET", SPOTIFY_PLAYLIST, spotify_pages)
    host = await host_party(client, "spotify")
    body = {"kind": "playlist", "source": "spotify", "playlist_id": "37i9dQZF1DXcBWIGoYBM5M"}
    response = await client.put(FALLBACK, json=body, headers=host)
    assert response.status_code == 200, response.text
    assert (response.json()["kind"], response.json()["track_count"]) == ("playlist", 120)
    state = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert state["current_song"]["song"]["name"] == "Song 0"
    assert [s["song"]["name"] for s in state["queue"]] == ["Song 1", "Song 2"]
    assert state["current_song"]["song"]["source"] == "spotify"
    assert [c.param("offset") for c in fake.calls_to(SPOTIFY_PLAYLIST)] == ["0", "100"]


async def test_an_apple_music_playlist_is_read_in_the_hosts_storefront(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    songs = [apple_song(f"{2000 + n}", name=f"Apple {n}") for n in range(4)]
    fake.route("GET", APPLE_PLAYLIST, Reply(200, {"data": songs}))
    host = await host_party(client, "apple")
    body = {"kind": "playlist", "source": "apple_music", "playlist_id": "pl.u-8aAVZAaIkUNdbG"}
    response = await client.put(FALLBACK, json=body, headers=host)
    assert response.status_code == 200, response.text
    state = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert state["current_song"]["song"]["name"] == "Apple 0"
    assert state["current_song"]["is_fallback"] is True


async def test_a_provider_outage_changes_nothing(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    host = await host_party(client, "spotify")
    local = {"kind": "tracks", "tracks": [{"source": "local", "id": track("PO1")["id"]}]}
    assert (await client.put(FALLBACK, json=local, headers=host)).status_code == 200
    before = (await client.get(f"{API}/sessions/current", headers=host)).json()
    fake.route("GET", SPOTIFY_PLAYLIST, Reply(503, {}))
    body = {"kind": "playlist", "source": "spotify", "playlist_id": "37i9dQZF1DXcBWIGoYBM5M"}
    refused = await client.put(FALLBACK, json=body, headers=host)
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "catalog_unavailable"
    source = (await client.get(FALLBACK, headers=host)).json()
    assert (source["kind"], source["track_count"]) == ("tracks", 1)
    after = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert after["session"]["version"] == before["session"]["version"]


async def test_an_empty_or_unknown_playlist_is_refused(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    host = await host_party(client, "spotify")
    body = {"kind": "playlist", "source": "spotify", "playlist_id": "unknownplaylist"}
    refused = await client.put(FALLBACK, json=body, headers=host)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "fallback_empty"
