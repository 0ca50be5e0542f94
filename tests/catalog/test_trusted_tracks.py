"""Trusted tracks (issue 15): what a party stores, shows and broadcasts comes from the catalog,
never from the client. Real provider clients against the fake Spotify and Apple Music HTTP
servers, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import insert, select

from queueit.catalog.models import Song
from tests.catalog.conftest import apple_overrides, counter, spotify_overrides
from tests.catalog.fake_server import FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, apple_song, spotify_item
from tests.conftest import make_settings
from tests.factories import make_host, make_user, track
from tests.realtime.harness import ThreadServer, bearer, open_ws, recv, start_party, until

API = "/api/v1"
EVIL_ART = "https://evil.example/pixel.jpg"


def forged(track_id: str, source: str = "spotify", **extra: Any) -> dict[str, Any]:
    """An add request for a real id, with every other field invented by an attacker."""
    return {
        "id": track_id,
        "source": source,
        "name": "BUY CRYPTO AT evil.example",
        "artists": "Spam",
        "album": "Scam",
        "duration_ms": 1,
        "image_url": EVIL_ART,
        "isrc": "ZZZZZ9999999",
        "explicit": True,
        **extra,
    }


def catalog_song(track_id: str, n: int = 1) -> dict[str, Any]:
    """What the API shows for fake Spotify's track `track_id` (spotify_item(..., n))."""
    return {
        "id": track_id,
        "isrc": f"USABC123456{n}",
        "name": f"Real Song {n}",
        "artists": f"Real Artist {n}",
        "album": "Album",
        "duration_ms": 200_000 + n,
        "image_url": "https://i.scdn.co/image/large",
        "source": "spotify",
        "explicit": False,
    }


def serve_spotify_track(fake: FakeServer, track_id: str, n: int = 1, delay: float = 0.0) -> None:
    item = spotify_item(
        track_id,
        name=f"Real Song {n}",
        artists=(f"Real Artist {n}",),
        duration_ms=200_000 + n,
        isrc=f"USABC123456{n}",
    )
    fake.route("GET", f"/v1/tracks/{track_id}", Reply(200, item, delay=delay))


@pytest.fixture
def settings_overrides(
    fake: FakeServer, tokens: TokenEndpoint, apple_key: ec.EllipticCurvePrivateKey
) -> dict[str, Any]:
    return {**spotify_overrides(fake), **apple_overrides(fake, apple_key)}


async def party(
    client: httpx.AsyncClient, provider: str = "spotify"
) -> tuple[str, dict[str, str], dict[str, str]]:
    host = await make_host(client, provider=provider)
    code = "T" + uuid.uuid4().hex[:6].upper()
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    guest = await make_user(client, anonymous=True)
    joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    return created.json()["session"]["id"], host, guest


async def add(client: httpx.AsyncClient, body: dict[str, Any], who: dict[str, str]) -> Any:
    response = await client.post(f"{API}/songs/add", json=body, headers=who)
    assert response.status_code == 200, response.text
    return response.json()


async def stored_rows(app: FastAPI, provider_id: str) -> list[Song]:
    async with app.state.ctx.database.sessionmaker() as db:
        rows = await db.execute(select(Song).where(Song.provider_id == provider_id))
        return list(rows.scalars())


async def tv_state(client: httpx.AsyncClient, session_id: str, host: dict[str, str]) -> Any:
    link = await client.post(f"{API}/sessions/{session_id}/tv_link", headers=host)
    assert link.status_code == 200, link.text
    token = link.json()["url"].split("token=")[1]
    state = await client.get(f"{API}/sessions/{session_id}/tv_state", params={"token": token})
    assert state.status_code == 200, state.text
    return state.json()


@pytest.mark.parametrize(
    "body",
    [
        forged("inventedsp1"),  # Spotify answers 404
        forged("1999", source="apple_music"),  # Apple Music answers 404
        forged("local:made-up-xyz", source="local"),  # not in the bundled catalog
    ],
    ids=["spotify", "apple_music", "local"],
)
async def test_an_invented_id_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, app: FastAPI, body: dict[str, Any]
) -> None:
    _, host, guest = await party(client)
    response = await client.post(f"{API}/songs/add", json=body, headers=guest)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "track_not_found"
    assert await stored_rows(app, body["id"]) == []
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["current_song"] is None and current["queue_total"] == 0


async def test_forged_fields_are_replaced_by_the_catalogs_everywhere(
    client: httpx.AsyncClient, app: FastAPI, fake: FakeServer
) -> None:
    serve_spotify_track(fake, "sp1", 1)
    serve_spotify_track(fake, "sp2", 2)
    session_id, host, guest = await party(client)

    playing = await add(client, forged("sp1"), guest)
    queued = await add(client, forged("sp2"), guest)

    assert playing["song"] == catalog_song("sp1", 1)
    assert queued["song"] == catalog_song("sp2", 2)
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["current_song"]["song"] == catalog_song("sp1", 1)
    assert [s["song"] for s in current["queue"]] == [catalog_song("sp2", 2)]
    tv = await tv_state(client, session_id, host)
    assert tv["current_song"]["song"]["name"] == "Real Song 1"
    assert tv["queue"][0]["song"] == catalog_song("sp2", 2)
    (row,) = await stored_rows(app, "sp2")
    assert row.name == "Real Song 2" and row.verified_at is not None
    # The forged ISRC was not what the market lookup asked for: only the id was used.
    assert [c.param("market") for c in fake.calls_to("/v1/tracks/sp1")] == ["US"]


async def test_only_source_and_id_are_needed(client: httpx.AsyncClient, fake: FakeServer) -> None:
    serve_spotify_track(fake, "sp1", 1)
    _, host, _ = await party(client)
    added = await add(client, {"source": "spotify", "id": "sp1"}, host)
    assert added["song"] == catalog_song("sp1", 1)


async def test_a_forged_add_in_one_party_never_reaches_another(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    """The issue's cross-party case: a guest of party A adds a real track with a forged name
    and artwork and removes it again; a guest of party B then adds the real search result."""
    serve_spotify_track(fake, "sp9", 9)
    serve_spotify_track(fake, "sp1", 1)
    _, host_a, attacker = await party(client)
    await add(client, forged("sp1"), host_a)  # something plays, so sp9 stays queued
    planted = await add(
        client, forged("sp9", name="Party moved! Pay entry at evil.example"), attacker
    )
    removed = await client.delete(f"{API}/songs/{planted['id']}", headers=attacker)
    assert removed.status_code == 200, removed.text

    session_b, host_b, guest_b = await party(client)
    added = await add(client, {**catalog_song("sp9", 9), "image_url": ""}, guest_b)

    assert added["song"] == catalog_song("sp9", 9)
    current = (await client.get(f"{API}/sessions/current", headers=host_b)).json()
    assert current["current_song"]["song"] == catalog_song("sp9", 9)
    assert (await tv_state(client, session_b, host_b))["current_song"]["song"]["name"] == (
        "Real Song 9"
    )
    assert len(fake.calls_to("/v1/tracks/sp9")) == 1  # party B's add came from the store


async def test_a_row_poisoned_before_verification_heals_on_the_next_add(
    client: httpx.AsyncClient, app: FastAPI, fake: FakeServer
) -> None:
    """A row stored with a client's text by an earlier version (verified_at NULL) is
    overwritten with the catalog's values the next time anyone adds the track."""
    async with app.state.ctx.database.sessionmaker() as db:
        await db.execute(
            insert(Song).values(
                id=uuid.uuid4(),
                source="spotify",
                provider_id="sp5",
                isrc="",
                name="Party moved! Pay entry at evil.example",
                artists="Spam",
                album="",
                duration_ms=1,
                image_url=EVIL_ART,
                explicit=None,
                created_at=datetime.now(UTC),
                verified_at=None,
            )
        )
        await db.commit()
    serve_spotify_track(fake, "sp5", 5)
    session_id, host, guest = await party(client)

    added = await add(client, {"source": "spotify", "id": "sp5"}, guest)

    assert added["song"] == catalog_song("sp5", 5)
    (row,) = await stored_rows(app, "sp5")
    assert (row.name, row.image_url) == ("Real Song 5", "https://i.scdn.co/image/large")
    assert row.verified_at is not None
    assert (await tv_state(client, session_id, host))["current_song"]["song"]["artists"] == (
        "Real Artist 5"
    )


@pytest.mark.parametrize("status", [429, 500])
async def test_a_provider_outage_is_503_and_stores_nothing_but_stored_tracks_still_add(
    client: httpx.AsyncClient, app: FastAPI, fake: FakeServer, status: int
) -> None:
    serve_spotify_track(fake, "sp1", 1)
    _, host_a, _ = await party(client)
    await add(client, track(1), host_a)  # something local plays in party A
    await add(client, forged("sp1"), host_a)  # sp1 is now verified and stored
    down = Reply(status, {}, headers={"Retry-After": "30"} if status == 429 else {})
    fake.route("GET", "/v1/tracks/sp1", down)
    fake.route("GET", "/v1/tracks/sp2", down)
    _, host_b, guest_b = await party(client)

    refused = await client.post(f"{API}/songs/add", json=forged("sp2"), headers=guest_b)

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "catalog_unavailable"
    if status == 429:
        assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert await stored_rows(app, "sp2") == []
    calls_before = len(fake.calls_to("/v1/tracks/sp1"))
    still = await add(client, forged("sp1"), guest_b)
    assert still["song"] == catalog_song("sp1", 1)
    assert len(fake.calls_to("/v1/tracks/sp1")) == calls_before  # from the store
    current = (await client.get(f"{API}/sessions/current", headers=host_b)).json()
    assert current["current_song"]["song"] == catalog_song("sp1", 1)


async def test_a_flood_of_adds_of_one_new_track_makes_one_provider_call(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    serve_spotify_track(fake, "sp7", 7, delay=0.3)
    code = "FLOOD" + uuid.uuid4().hex[:4].upper()
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200
    await add(client, track(1), host)  # plays, so the flood queues one entry
    guests = [await make_user(client, anonymous=True) for _ in range(12)]
    for guest in guests:
        joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
        assert joined.status_code == 200

    found_before = counter("queueit_catalog_verifications_total", source="spotify", outcome="found")
    results = await asyncio.gather(
        *(client.post(f"{API}/songs/add", json=forged("sp7"), headers=g) for g in guests)
    )

    assert [r.status_code for r in results] == [200] * len(guests)
    assert {r.json()["id"] for r in results} != set() and len(
        {r.json()["id"] for r in results}
    ) == 1
    assert len(fake.calls_to("/v1/tracks/sp7")) == 1
    found = counter("queueit_catalog_verifications_total", source="spotify", outcome="found")
    assert found - found_before == 1
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["queue_total"] == 1
    assert current["queue"][0]["song"] == catalog_song("sp7", 7)


async def test_apple_music_tracks_come_from_the_hosts_storefront(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    fake.route(
        "GET",
        "/v1/catalog/gb/songs/1001",
        Reply(200, {"data": [apple_song("1001", name="Apple Real", artist="Apple Artist")]}),
    )
    host = await make_host(client, provider="apple")
    await client.patch(f"{API}/users/me", json={"storefront": "gb"}, headers=host)
    created = await client.post(
        f"{API}/sessions/create", json={"join_code": "APPLE1"}, headers=host
    )
    assert created.status_code == 200, created.text

    added = await add(client, forged("1001", source="apple_music"), host)

    song = added["song"]
    assert (song["name"], song["artists"], song["duration_ms"]) == (
        "Apple Real",
        "Apple Artist",
        200_000,
    )
    assert song["image_url"].startswith("https://is1-ssl.mzstatic.com/")
    assert song["isrc"] == "USABC1234567"


async def test_cross_catalog_matching_starts_from_the_verified_track(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    """A Spotify track for an Apple Music host: the ISRC looked up in Apple's catalog is
    Spotify's, not the one the client sent."""
    serve_spotify_track(fake, "sp3", 3)
    fake.route(
        "GET",
        "/v1/catalog/us/songs",
        Reply(200, {"data": [apple_song("2003", name="Real Song 3", isrc="USABC1234563")]}),
    )
    _, _, guest = await party(client, provider="apple")

    added = await add(client, forged("sp3"), guest)

    assert (added["song"]["source"], added["song"]["id"]) == ("apple_music", "2003")
    (lookup,) = fake.calls_to("/v1/catalog/us/songs")
    assert lookup.param("filter[isrc]") == "USABC1234563"


async def test_artwork_off_the_providers_image_hosts_is_dropped(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    item = spotify_item("sp4")
    item["album"]["images"] = [{"url": EVIL_ART, "width": 640, "height": 640}]
    fake.route("GET", "/v1/tracks/sp4", Reply(200, item))
    _, host, _ = await party(client)
    added = await add(client, forged("sp4"), host)
    assert added["song"]["image_url"] is None


async def test_socket_events_carry_the_catalogs_values(
    database_url: str, tmp_path: Path, fake: FakeServer, tokens: TokenEndpoint
) -> None:
    serve_spotify_track(fake, "sp1", 1)
    serve_spotify_track(fake, "sp2", 2)
    settings = make_settings(database_url, tmp_path / "data", **spotify_overrides(fake))
    server = ThreadServer(settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
            party_ = await start_party(http)
            async with await open_ws(
                server.ws_url(party_.session_id), token=bearer(party_.guest)
            ) as ws:
                assert (await recv(ws))["event"] == "session.snapshot"
                await add(http, forged("sp1"), party_.guest)
                playing = await until(ws, "now_playing.updated")
                assert playing["data"]["current_song"]["song"] == catalog_song("sp1", 1)
                await add(http, forged("sp2"), party_.guest)
                queue = await until(ws, "queue.updated")
                while not queue["data"]["queue"]:  # the first add's advance sent an empty one
                    queue = await until(ws, "queue.updated")
                assert [s["song"] for s in queue["data"]["queue"]] == [catalog_song("sp2", 2)]
                await ws.send('{"type": "resync"}')
                snapshot = await until(ws, "session.snapshot")
                assert snapshot["data"]["queue"][0]["song"]["name"] == "Real Song 2"
    finally:
        server.stop()
