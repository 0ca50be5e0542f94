"""Real concurrent requests on PostgreSQL: the database settles every race."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.factories import make_host, make_user, track

API = "/api/v1"
pytestmark = [pytest.mark.postgres_only, pytest.mark.vote_twin]


async def _party_with_guests(
    client: httpx.AsyncClient, guests: int, code: str = "RACE"
) -> tuple[dict[str, str], list[dict[str, str]]]:
    host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    members = await asyncio.gather(*(make_user(client, anonymous=True) for _ in range(guests)))
    for member in members:
        await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=member)
    return host, list(members)


async def test_fifty_simultaneous_votes_all_count(client: httpx.AsyncClient) -> None:
    host, guests = await _party_with_guests(client, 50)
    await client.post(f"{API}/songs/add", json=track(0), headers=host)
    song = (await client.post(f"{API}/songs/add", json=track(1), headers=host)).json()
    responses = await asyncio.gather(
        *(
            client.post(f"{API}/songs/{song['id']}/vote", json={"vote_value": 1}, headers=g)
            for g in guests
        )
    )
    assert all(r.status_code == 200 for r in responses)
    # Each response saw a distinct committed total: no lost update.
    assert sorted(r.json()["total_votes"] for r in responses) == list(range(1, 51))
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["queue"][0]["votes"] == 50


async def test_twenty_simultaneous_adds_start_exactly_one_song(client: httpx.AsyncClient) -> None:
    host, guests = await _party_with_guests(client, 19)
    adders = [host, *guests]
    responses = await asyncio.gather(
        *(
            client.post(f"{API}/songs/add", json=track(n), headers=user)
            for n, user in enumerate(adders)
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    statuses = [r.json()["status"] for r in responses]
    assert statuses.count("playing") == 1
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["queue_total"] == 19
    assert current["current_song"]["id"] == responses[statuses.index("playing")].json()["id"]


async def test_ten_simultaneous_song_finished_advance_once(client: httpx.AsyncClient) -> None:
    host, _ = await _party_with_guests(client, 0)
    first = (await client.post(f"{API}/songs/add", json=track(1), headers=host)).json()
    for n in (2, 3, 4):
        await client.post(f"{API}/songs/add", json=track(n), headers=host)
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/sessions/song_finished", json={"queued_song_id": first["id"]}, headers=host
            )
            for _ in range(10)
        )
    )
    assert all(r.json() == {"ok": True} for r in responses)
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["current_song"]["song"]["id"] == track(2)["id"]
    assert current["queue_total"] == 2
    history = (
        await client.get(f"{API}/sessions/{current['session']['id']}/history", headers=host)
    ).json()
    assert [h["song"]["id"] for h in history["items"]] == [track(1)["id"]]


async def test_simultaneous_skip_requests_skip_once(client: httpx.AsyncClient) -> None:
    host, guests = await _party_with_guests(client, 7)  # 8 participants: the 5th request skips
    for n in (1, 2, 3):
        await client.post(f"{API}/songs/add", json=track(n), headers=host)
    responses = await asyncio.gather(
        *(client.post(f"{API}/sessions/request_skip", headers=g) for g in guests)
    )
    assert all(r.status_code == 200 for r in responses)
    assert sum(r.json()["skipped"] for r in responses) == 1
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["current_song"]["song"]["id"] == track(2)["id"]
    history = (
        await client.get(f"{API}/sessions/{current['session']['id']}/history", headers=host)
    ).json()
    assert [(h["song"]["id"], h["status"]) for h in history["items"]] == [
        (track(1)["id"], "skipped")
    ]
    # Requests made after the skip count toward the new song only.
    assert current["skip_request_count"] == 7 - 5


async def test_two_hosts_racing_for_one_code(client: httpx.AsyncClient) -> None:
    for attempt in range(3):
        code = f"SAME-{attempt}"
        hosts = [await make_host(client), await make_host(client)]
        responses = await asyncio.gather(
            *(
                client.post(f"{API}/sessions/create", json={"join_code": code}, headers=h)
                for h in hosts
            )
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["code"] == "join_code_taken"


async def test_same_user_voting_concurrently_keeps_one_vote(client: httpx.AsyncClient) -> None:
    host, guests = await _party_with_guests(client, 1)
    await client.post(f"{API}/songs/add", json=track(0), headers=host)
    song = (await client.post(f"{API}/songs/add", json=track(1), headers=host)).json()
    values = [1, -1] * 10
    responses = await asyncio.gather(
        *(
            client.post(f"{API}/songs/{song['id']}/vote", json={"vote_value": v}, headers=guests[0])
            for v in values
        )
    )
    assert all(r.status_code == 200 for r in responses)
    current = (await client.get(f"{API}/sessions/current", headers=guests[0])).json()
    total = current["queue"][0]["votes"]
    assert total in (1, -1)
    assert current["my_votes"] == {song["id"]: total}
