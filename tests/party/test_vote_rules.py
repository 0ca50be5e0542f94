"""The party's vote rules (issue #18) through the HTTP API: the vote mode, a guest's
downvotes an hour, and auto-remove (docs/DOMAIN.md "Party rules" → "Votes")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from queueit.core.types import utcnow
from queueit.party.models import Vote
from queueit.users.models import User
from tests.conftest import asyncpg_url
from tests.factories import make_host, make_user, track

API = "/api/v1"
# Every vote here runs through both of its paths on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.vote_twin


async def _party(
    client: httpx.AsyncClient, guests: int, *, songs: int = 1, code: str = "RULES"
) -> tuple[dict[str, str], list[dict[str, str]], list[str]]:
    """A host, `guests` joined guests, one song playing and `songs` queued songs (their ids)."""
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    members = [await make_user(client, anonymous=True) for _ in range(guests)]
    for member in members:
        joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=member)
        assert joined.status_code == 200, joined.text
    await client.post(f"{API}/songs/add", json=track(0), headers=host)  # plays
    ids = []
    for n in range(1, songs + 1):
        added = await client.post(f"{API}/songs/add", json=track(n), headers=host)
        assert added.status_code == 200, added.text
        ids.append(added.json()["id"])
    return host, members, ids


async def _rules(client: httpx.AsyncClient, host: dict[str, str], **patch: Any) -> None:
    changed = await client.patch(f"{API}/sessions/current/settings", json=patch, headers=host)
    assert changed.status_code == 200, changed.text


async def _vote(
    client: httpx.AsyncClient, who: dict[str, str], song_id: str, value: int | None
) -> httpx.Response:
    if value is None:
        return await client.delete(f"{API}/songs/{song_id}/vote", headers=who)
    return await client.post(f"{API}/songs/{song_id}/vote", json={"vote_value": value}, headers=who)


async def _queue(client: httpx.AsyncClient, who: dict[str, str]) -> dict[str, int]:
    """The waiting songs and their totals, as a member's snapshot shows them."""
    current = (await client.get(f"{API}/sessions/current", headers=who)).json()
    return {song["id"]: song["votes"] for song in current["queue"]}


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert body["detail"].endswith(".") and len(body["detail"]) > 20  # a sentence for a guest


async def _run_sql(database_url: str, statement: Any) -> None:
    """Change rows past the API (to move time: a vote cast long ago, a member gone quiet)."""
    url = asyncpg_url(database_url) if database_url.startswith("postgresql") else database_url
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(statement)
    finally:
        await engine.dispose()


def _user_id(headers: dict[str, str]) -> uuid.UUID:
    return uuid.UUID(headers["X-Test-User"])


async def _age_votes(
    database_url: str, who: dict[str, str], song_ids: Sequence[str], minutes: int
) -> None:
    when = utcnow() - timedelta(minutes=minutes)
    await _run_sql(
        database_url,
        update(Vote)
        .where(
            Vote.user_id == _user_id(who),
            Vote.queued_song_id.in_([uuid.UUID(s) for s in song_ids]),
        )
        .values(updated_at=when, created_at=when),
    )


# -- Vote mode ---------------------------------------------------------------------------


async def test_up_only_refuses_downvotes_and_keeps_upvotes(client: httpx.AsyncClient) -> None:
    host, (guest, other), (song,) = await _party(client, 2)
    assert (await _vote(client, other, song, -1)).status_code == 200  # before the change
    await _rules(client, host, vote_mode="up_only")

    _refused(await _vote(client, guest, song, -1), 409, "downvotes_off")
    _refused(await _vote(client, host, song, -1), 409, "downvotes_off")  # the host too
    assert (await _vote(client, guest, song, 1)).json() == {"ok": True, "total_votes": 0}
    _refused(await _vote(client, guest, song, -1), 409, "downvotes_off")  # no flip to -1
    # A downvote cast before the change can still be taken back.
    assert (await _vote(client, other, song, None)).json() == {"ok": True, "total_votes": 1}
    assert await _queue(client, guest) == {song: 1}


async def test_up_only_re_add_still_upvotes(client: httpx.AsyncClient) -> None:
    host, (guest,), (song,) = await _party(client, 1)
    await _rules(client, host, vote_mode="up_only")
    again = await client.post(f"{API}/songs/add", json=track(1), headers=guest)
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["votes"]) == (song, 1)


async def test_voting_off_refuses_votes_but_withdrawing_works(client: httpx.AsyncClient) -> None:
    host, (guest, other), (song,) = await _party(client, 2)
    assert (await _vote(client, guest, song, 1)).status_code == 200
    await _rules(client, host, vote_mode="off")

    _refused(await _vote(client, other, song, 1), 409, "voting_off")
    _refused(await _vote(client, other, song, -1), 409, "voting_off")
    _refused(await _vote(client, host, song, 1), 409, "voting_off")
    _refused(await _vote(client, guest, song, -1), 409, "voting_off")  # no change either
    assert await _queue(client, host) == {song: 1}
    assert (await _vote(client, guest, song, None)).json() == {"ok": True, "total_votes": 0}
    assert await _queue(client, host) == {song: 0}


async def test_voting_off_re_add_changes_nothing(client: httpx.AsyncClient) -> None:
    host, (guest,), (song,) = await _party(client, 1)
    await _rules(client, host, vote_mode="off")
    version = (await client.get(f"{API}/sessions/current", headers=host)).json()["session"]
    again = await client.post(f"{API}/songs/add", json=track(1), headers=guest)
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["votes"]) == (song, 0)
    current = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert current["my_votes"] == {}
    assert current["queue_total"] == 1
    assert current["session"]["version"] == version["version"]  # nothing changed


# -- Downvotes an hour -------------------------------------------------------------------


async def test_downvote_limit_refuses_the_third_downvote(client: httpx.AsyncClient) -> None:
    host, (guest, other), songs = await _party(client, 2, songs=4)
    first, second, third, fourth = songs
    await _rules(client, host, downvotes_per_hour=2)

    assert (await _vote(client, guest, first, -1)).status_code == 200
    assert (await _vote(client, guest, second, -1)).status_code == 200
    assert (await _vote(client, guest, first, -1)).status_code == 200  # the same one again
    refused = await _vote(client, guest, third, -1)
    _refused(refused, 429, "downvote_limit")
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert "2 times an hour" in refused.json()["detail"]
    # An upvote still works; flipping it to a downvote is a new downvote.
    assert (await _vote(client, guest, third, 1)).json() == {"ok": True, "total_votes": 1}
    _refused(await _vote(client, guest, third, -1), 429, "downvote_limit")
    # The limit is each guest's, and not the host's.
    assert (await _vote(client, other, third, -1)).status_code == 200
    for song in songs:
        assert (await _vote(client, host, song, -1)).status_code == 200
    assert await _queue(client, host) == {first: -2, second: -2, third: -1, fourth: -1}


async def test_a_co_host_downvotes_like_a_guest(client: httpx.AsyncClient) -> None:
    """The limit spares the host alone: a co-host manages the party, not the votes."""
    host, (co_host,), songs = await _party(client, 1, songs=2)
    session = (await client.get(f"{API}/sessions/current", headers=host)).json()["session"]
    granted = await client.post(
        f"{API}/sessions/{session['id']}/members/{co_host['X-Test-User']}/co-host",
        headers=host,
    )
    assert granted.status_code == 200, granted.text
    await _rules(client, host, downvotes_per_hour=1)
    assert (await _vote(client, co_host, songs[0], -1)).status_code == 200
    _refused(await _vote(client, co_host, songs[1], -1), 429, "downvote_limit")


async def test_retry_after_is_when_the_oldest_downvote_leaves_the_hour(
    client: httpx.AsyncClient, database_url: str
) -> None:
    host, (guest,), songs = await _party(client, 1, songs=3)
    await _rules(client, host, downvotes_per_hour=2)
    for song in songs[:2]:
        assert (await _vote(client, guest, song, -1)).status_code == 200
    await _age_votes(database_url, guest, songs[:1], minutes=50)
    refused = await _vote(client, guest, songs[2], -1)
    _refused(refused, 429, "downvote_limit")
    assert 540 < int(refused.headers["Retry-After"]) <= 600  # the 50-minute-old one, in 10
    await _age_votes(database_url, guest, songs[:1], minutes=61)
    assert (await _vote(client, guest, songs[2], -1)).status_code == 200  # it left the hour


async def test_a_withdrawn_downvote_frees_the_budget(client: httpx.AsyncClient) -> None:
    """The honest limit: the rule counts downvotes that stand, so taking one back frees it
    (and that song no longer carries it)."""
    host, (guest,), (first, second) = await _party(client, 1, songs=2)
    await _rules(client, host, downvotes_per_hour=1)
    assert (await _vote(client, guest, first, -1)).status_code == 200
    _refused(await _vote(client, guest, second, -1), 429, "downvote_limit")
    assert (await _vote(client, guest, first, None)).status_code == 200
    assert (await _vote(client, guest, second, -1)).status_code == 200
    assert await _queue(client, guest) == {first: 0, second: -1}


async def test_no_downvotes_for_guests(client: httpx.AsyncClient) -> None:
    """0 an hour: never (409, not a 429 a client would retry), and the host still may."""
    host, (guest,), (song,) = await _party(client, 1)
    await _rules(client, host, downvotes_per_hour=0)
    _refused(await _vote(client, guest, song, -1), 409, "downvotes_off")
    assert (await _vote(client, guest, song, 1)).status_code == 200
    assert (await _vote(client, host, song, -1)).json() == {"ok": True, "total_votes": 0}


# -- Auto-remove -------------------------------------------------------------------------


async def test_auto_remove_takes_a_song_below_the_threshold_out(
    client: httpx.AsyncClient,
) -> None:
    """11 present (host + 10 guests): the threshold is -max(2, ceil(30 % of 11)) = -4, so a
    song at -4 stays and leaves at -5."""
    host, guests, (doomed, kept) = await _party(client, 10, songs=2)
    await _rules(client, host, auto_remove=True)
    for guest in guests[:4]:
        assert (await _vote(client, guest, doomed, -1)).status_code == 200
        assert (await _vote(client, guest, kept, -1)).status_code == 200
    assert await _queue(client, host) == {doomed: -4, kept: -4}

    fifth = await _vote(client, guests[4], doomed, -1)
    assert fifth.json() == {"ok": True, "total_votes": -5}  # the vote counted
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert [s["id"] for s in current["queue"]] == [kept]
    assert current["queue_total"] == 1
    session_id = current["session"]["id"]
    page = (await client.get(f"{API}/sessions/{session_id}/queue", headers=host)).json()
    assert [s["id"] for s in page["items"]] == [kept]
    _refused(await _vote(client, guests[5], doomed, -1), 409, "song_not_votable")


async def test_members_not_present_do_not_raise_the_threshold(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Of 11 members only 5 are present (6 went quiet): the threshold is -max(2, 2) = -2."""
    host, guests, (song,) = await _party(client, 10)
    await _rules(client, host, auto_remove=True)
    quiet = [_user_id(g) for g in guests[4:]]
    await _run_sql(
        database_url,
        update(User).where(User.id.in_(quiet)).values(last_active_at=utcnow() - timedelta(hours=1)),
    )
    for guest in guests[:2]:
        assert (await _vote(client, guest, song, -1)).status_code == 200
    assert await _queue(client, host) == {song: -2}
    assert (await _vote(client, guests[2], song, -1)).json()["total_votes"] == -3
    assert await _queue(client, host) == {}


async def test_withdrawing_an_upvote_can_remove_a_song(client: httpx.AsyncClient) -> None:
    """What counts is the total falling below the threshold (-2 with 4 present)."""
    host, (fan, *critics), (song,) = await _party(client, 3)
    await _rules(client, host, auto_remove=True)
    assert (await _vote(client, fan, song, 1)).status_code == 200
    for member in (*critics, host):
        assert (await _vote(client, member, song, -1)).status_code == 200
    assert await _queue(client, host) == {song: -2}
    assert (await _vote(client, fan, song, None)).json()["total_votes"] == -3
    assert await _queue(client, host) == {}


async def test_a_default_party_never_auto_removes(client: httpx.AsyncClient) -> None:
    host, guests, (song,) = await _party(client, 6)
    for guest in guests:
        assert (await _vote(client, guest, song, -1)).status_code == 200
    assert (await _vote(client, host, song, -1)).json()["total_votes"] == -7
    assert await _queue(client, host) == {song: -7}


# -- Concurrency (PostgreSQL: votes lock the party row) ----------------------------------


@pytest.mark.postgres_only
async def test_concurrent_downvotes_of_one_guest_respect_the_limit(
    client: httpx.AsyncClient,
) -> None:
    host, (guest,), songs = await _party(client, 1, songs=10, code="BURST")
    await _rules(client, host, downvotes_per_hour=3)
    responses = await asyncio.gather(*(_vote(client, guest, song, -1) for song in songs))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 3 + [429] * 7, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 429} == {"downvote_limit"}
    assert sorted((await _queue(client, host)).values()) == [-1] * 3 + [0] * 7


@pytest.mark.postgres_only
async def test_concurrent_downvoters_remove_a_song_once(client: httpx.AsyncClient) -> None:
    """21 present: the threshold is -7, so the 8th downvote removes the song; the others
    find it no longer waiting. One version per change, the removal included."""
    host, guests, (song, kept) = await _party(client, 20, songs=2, code="CROWD")
    await _rules(client, host, auto_remove=True)
    before = (await client.get(f"{API}/sessions/current", headers=host)).json()
    responses = await asyncio.gather(*(_vote(client, g, song, -1) for g in guests))
    accepted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert sorted(r.json()["total_votes"] for r in accepted) == list(range(-8, 0))
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(409, "song_not_votable")}
    after = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert [s["id"] for s in after["queue"]] == [kept]
    assert after["session"]["version"] == before["session"]["version"] + 8
