"""Racing advances with a fallback source, as real concurrent requests on PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.factories import make_host, make_user, track

API = "/api/v1"
pytestmark = pytest.mark.postgres_only


async def test_ten_racing_song_finished_fill_once(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "RACE-FB"}, headers=host)
    refs = [{"source": track(f"RF{n}")["source"], "id": track(f"RF{n}")["id"]} for n in range(6)]
    put = await client.put(
        f"{API}/sessions/current/fallback", json={"kind": "tracks", "tracks": refs}, headers=host
    )
    assert put.status_code == 200, put.text
    playing = (await client.get(f"{API}/sessions/current", headers=host)).json()["current_song"]
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/sessions/song_finished",
                json={"queued_song_id": playing["id"]},
                headers=host,
            )
            for _ in range(10)
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    state = (await client.get(f"{API}/sessions/current", headers=host)).json()
    # One advance, one fill: the next source track plays, two wait, none twice.
    assert state["current_song"]["song"]["name"] == track("RF1")["name"]
    assert [s["song"]["name"] for s in state["queue"]] == [track(f"RF{n}")["name"] for n in (2, 3)]
    source = (await client.get(f"{API}/sessions/current/fallback", headers=host)).json()
    assert source["used_count"] == 4


async def test_racing_guest_adds_and_advances_keep_one_playing(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "RACE-FB2"}, headers=host)
    guests = [await make_user(client, anonymous=True) for _ in range(5)]
    for guest in guests:
        await client.post(f"{API}/sessions/join", json={"join_code": "RACE-FB2"}, headers=guest)
    refs = [{"source": track(f"RG{n}")["source"], "id": track(f"RG{n}")["id"]} for n in range(8)]
    put = await client.put(
        f"{API}/sessions/current/fallback", json={"kind": "tracks", "tracks": refs}, headers=host
    )
    assert put.status_code == 200, put.text
    calls = [
        client.post(f"{API}/songs/add", json=track(f"RGA{n}"), headers=guest)
        for n, guest in enumerate(guests)
    ] + [client.post(f"{API}/sessions/song_finished", json={}, headers=host) for _ in range(5)]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    state = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert state["current_song"] is not None
    waiting = [s["song"]["name"] for s in state["queue"]]
    assert len(waiting) == len(set(waiting))  # no track waits twice
    # Every guest request that has not played yet waits ahead of every fallback entry.
    flags = [s["is_fallback"] for s in state["queue"]]
    assert flags == sorted(flags)
