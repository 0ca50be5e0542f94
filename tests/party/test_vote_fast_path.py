"""A vote in one statement on PostgreSQL (party/vote_fast_path.py, migration 0009) is the
twin of the rule's general path (party/voting.py): the same answers, rows, versions and
events for every vote, the plain ones settled by the function and every other one deferred
to the general path with nothing written; the attacks the rule refuses still fail next to
the honest vote succeeding; and a database without the function votes as it always did.

The vote suites themselves (test_vote_rules, test_sybil, test_songs, concurrency/test_races,
the statement count) run once per path: they are marked `vote_twin` (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from queueit.core.events import DomainEvent
from queueit.party import vote_fast_path
from tests.conftest import asyncpg_url
from tests.factories import make_host, make_user, token_for, track
from tests.party.test_read_model_caller import _kill_the_pools_connections

API = "/api/v1"
pytestmark = pytest.mark.postgres_only

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@contextmanager
def _recorded(app: FastAPI) -> Iterator[tuple[list[DomainEvent], list[Any]]]:
    """The events the app publishes and the fast path's outcomes (a `Cast`, a `defer:...`
    reason, or None when it was not asked), meanwhile."""
    database = app.state.ctx.database
    fast = app.state.ctx.vote_fast_path
    published: list[DomainEvent] = []
    outcomes: list[Any] = []
    forward, cast = database.publisher, fast._cast

    async def publisher(events: list[DomainEvent]) -> None:
        published.extend(events)
        await forward(events)

    async def recorded_cast(*args: Any) -> Any:
        outcome = await cast(*args)
        outcomes.append(outcome)
        return outcome

    database.publisher, fast._cast = publisher, recorded_cast
    try:
        yield published, outcomes
    finally:
        database.publisher = forward
        del fast._cast


def _kind(outcome: Any) -> str:
    if isinstance(outcome, vote_fast_path.Cast):
        return "unchanged" if outcome.tally is None else "cast"
    return str(outcome)


class _Labels:
    """Ids and times as labels, so that two parties' runs of one script compare equal."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items() if k != "request_id"}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str) and _UUID.match(value):
            return self.ids.setdefault(value, f"id{len(self.ids)}")
        if isinstance(value, str) and _TIME.match(value):
            return "<time>"
        if isinstance(value, str) and value.startswith("host-"):
            return "<the host's name>"  # make_host's names are random
        return value


@dataclass
class _Cast:
    host: dict[str, str]
    guests: list[dict[str, str]]
    outsider: dict[str, str]
    loner: dict[str, str]
    party_id: str
    playing: str
    songs: list[str]


async def _cast_of(client: httpx.AsyncClient, code: str) -> _Cast:
    """A party: a host, three guests, a song playing and three waiting; an outsider in
    another party; a user in none."""
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    guests = [await make_user(client, anonymous=True) for _ in range(3)]
    for guest in guests:
        joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
        assert joined.status_code == 200, joined.text
    playing = (await client.post(f"{API}/songs/add", json=track(0), headers=host)).json()
    songs = []
    for n in range(1, 4):
        added = await client.post(f"{API}/songs/add", json=track(n), headers=host)
        songs.append(added.json()["id"])
    other_host = await make_host(client)
    other = f"{code}X"
    await client.post(f"{API}/sessions/create", json={"join_code": other}, headers=other_host)
    outsider = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": other}, headers=outsider)
    loner = await make_user(client, anonymous=True)
    return _Cast(
        host, guests, outsider, loner, created.json()["session"]["id"], playing["id"], songs
    )


async def _vote(
    client: httpx.AsyncClient, who: dict[str, str], song: str, value: int | None
) -> httpx.Response:
    if value is None:
        return await client.delete(f"{API}/songs/{song}/vote", headers=who)
    return await client.post(f"{API}/songs/{song}/vote", json={"vote_value": value}, headers=who)


async def _rules(client: httpx.AsyncClient, host: dict[str, str], **patch: Any) -> None:
    changed = await client.patch(f"{API}/sessions/current/settings", json=patch, headers=host)
    assert changed.status_code == 200, changed.text


async def _script(
    app: FastAPI, client: httpx.AsyncClient, code: str, *, fast: bool
) -> tuple[list[Any], list[str]]:
    """Every kind of vote, with what a user would notice after each (the answer, its
    Retry-After, the events, the queue's totals and the caller's votes, the party's version
    since the start), and the fast path's outcome for each vote."""
    c = await _cast_of(client, code)
    g1, g2, g3 = c.guests
    s1, s2, s3 = c.songs
    label = _Labels()
    seen: list[Any] = []
    kinds: list[str] = []
    start = (await client.get(f"{API}/sessions/current", headers=c.host)).json()["session"][
        "version"
    ]
    app.state.ctx.vote_fast_path.enabled = fast

    async def step(who: dict[str, str], song: str, value: int | None) -> None:
        with _recorded(app) as (published, outcomes):
            response = await _vote(client, who, song, value)
        kinds.extend(_kind(o) for o in outcomes)
        state = (await client.get(f"{API}/sessions/current", headers=c.host)).json()
        mine = await client.get(f"{API}/sessions/current", headers=who)
        events = [(e.name, e.version - start, label(e.data)) for e in published]
        seen.append(
            (
                response.status_code,
                label(response.json()),
                response.headers.get("retry-after") is not None,
                events,
                [(label(q["id"]), q["votes"]) for q in state["queue"]],
                label(mine.json().get("my_votes")),
                state["session"]["version"] - start,
            )
        )

    try:
        await step(g1, s1, 1)
        await step(g1, s1, 1)  # re-cast: nothing changes
        await step(g1, s1, -1)
        await step(g1, s1, None)
        await step(g1, s1, None)  # no vote to withdraw
        await step(c.host, s2, -1)
        await step(g2, c.playing, 1)  # playing, not waiting
        await step(c.outsider, s1, 1)  # another party's member on this party's song
        await step(c.loner, s1, 1)  # in no party
        await step(g2, str(uuid.uuid4()), 1)  # no such song
        await _rules(client, c.host, vote_mode="up_only")
        await step(g2, s1, -1)
        await step(g2, s1, 1)
        await _rules(client, c.host, vote_mode="off")
        await step(g2, s1, None)  # a withdrawal is always allowed
        await step(g3, s1, 1)
        await _rules(client, c.host, vote_mode="up_down", downvotes_per_hour=1)
        await step(g3, s2, -1)
        await step(g3, s3, -1)  # over the hour's limit
        await step(g3, s2, -1)  # the same downvote again is not a new one
        await step(c.host, s3, -1)  # the host's downvotes are not limited
        await step(g3, s3, 1)
        await client.delete(f"{API}/songs/{s3}", headers=c.host)
        await step(g1, s3, 1)  # removed
        await _rules(
            client, c.host, downvotes_per_hour=None, auto_remove=True, auto_remove_min_votes=1
        )
        await step(g1, s1, 1)  # a gain: auto-remove has nothing to say
        await step(g1, s2, -1)  # s2 at -3: auto-removed
        kick = f"{API}/sessions/{c.party_id}/members/{g2['X-Test-User']}/kick"
        assert (await client.post(kick, headers=c.host)).status_code == 200
        await step(g2, s1, 1)
        ban = f"{API}/sessions/{c.party_id}/members/{g3['X-Test-User']}/ban"
        assert (await client.post(ban, headers=c.host)).status_code == 200
        await step(g3, s1, -1)
    finally:
        app.state.ctx.vote_fast_path.enabled = True
    return seen, kinds


async def test_every_vote_answers_writes_and_publishes_what_the_general_path_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    fast, kinds = await _script(app, client, "TWINF", fast=True)
    general, untried = await _script(app, client, "TWING", fast=False)
    for n, (a, b) in enumerate(zip(fast, general, strict=True)):
        assert a == b, f"step {n}: fast {a} != general {b}"
    assert untried == []
    # The function settled the plain votes itself and left every other one to the rule.
    assert kinds == [
        *("cast", "unchanged", "cast", "cast", "unchanged", "cast"),
        *("defer:song", "defer:song", "defer:caller", "defer:song"),  # not votable here
        *("defer:mode", "cast", "cast", "defer:mode"),  # up_only, then off
        *("defer:downvote_limit", "defer:downvote_limit", "unchanged", "cast", "cast"),
        "defer:song",  # removed
        *("cast", "defer:auto_remove"),
        *("defer:caller", "defer:caller"),  # kicked, banned
    ]
    # And the answers are the rule's (the comparison covered them; these name them).
    codes = [(step[0], step[1].get("code")) for step in fast]
    assert codes[6:10] == [
        (409, "song_not_votable"),
        (404, "song_not_found"),
        (404, "no_active_session"),
        (404, "song_not_found"),
    ]
    assert [codes[10], codes[13], codes[15], codes[19]] == [
        (409, "downvotes_off"),
        (409, "voting_off"),
        (429, "downvote_limit"),
        (409, "song_not_votable"),
    ]
    assert fast[21][3][0][0] == "queue.updated"  # the auto-removal's event
    assert codes[22:] == [(404, "no_active_session")] * 2


async def _rows(database_url: str, party_id: str) -> list[Any]:
    """The party's version, its songs' totals and tier times and every vote on them, as the
    login role sees them (past the API and the policies)."""
    engine = create_async_engine(asyncpg_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            query = text(
                "SELECT s.version, s.last_activity_at, q.id, q.votes, q.last_entered_tier_at,"
                " v.user_id, v.value, v.updated_at FROM sessions s"
                " JOIN queued_songs q ON q.session_id = s.id"
                " LEFT JOIN votes v ON v.queued_song_id = q.id"
                " WHERE s.id = :party ORDER BY q.id, v.user_id"
            )
            return list((await conn.execute(query, {"party": party_id})).all())
    finally:
        await engine.dispose()


async def _claims(app: FastAPI, who: dict[str, str]) -> Any:
    return await app.state.ctx.verifier.verify(who["Authorization"].removeprefix("Bearer "))


async def test_a_deferred_vote_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    """Each case the function leaves to the rule comes back deferred with every row as it
    was (the party's version and activity, the totals and tier times, the votes)."""
    c = await _cast_of(client, "DEFER")
    g1, g2, g3 = c.guests
    s1, s2, _s3 = c.songs
    fast = app.state.ctx.vote_fast_path
    await _vote(client, g1, s2, -1)
    await _rules(client, c.host, downvotes_per_hour=3, auto_remove=True)
    cases = [
        (g1, c.playing, 1, "defer:song"),
        (c.outsider, s1, 1, "defer:song"),
        (c.loner, s1, 1, "defer:caller"),
        (g2, s1, -1, "defer:downvote_limit"),
        (c.host, s2, -1, "defer:auto_remove"),
        (g1, s2, None, "cast"),  # a gain (-1 to none): auto-remove has nothing to say
    ]
    for who, song, value, expected in cases:
        before = await _rows(database_url, c.party_id)
        outcome = await fast._cast(await _claims(app, who), uuid.UUID(song), value)
        assert _kind(outcome) == expected, (who, song, value)
        if expected.startswith("defer"):
            assert await _rows(database_url, c.party_id) == before
    await _rules(client, c.host, vote_mode="off")
    before = await _rows(database_url, c.party_id)
    assert await fast._cast(await _claims(app, g3), uuid.UUID(s1), 1) == "defer:mode"
    assert await _rows(database_url, c.party_id) == before
    # A guest's row with a full account's token (the upgrade is users.service's).
    upgraded = {**g3, "Authorization": f"Bearer {token_for(uuid.UUID(g3['X-Test-User']))}"}
    await _rules(client, c.host, vote_mode="up_down")
    before = await _rows(database_url, c.party_id)
    assert await fast._cast(await _claims(app, upgraded), uuid.UUID(s1), 1) == "defer:caller"
    assert await _rows(database_url, c.party_id) == before


async def _last_active_ago(engine: Any, user: dict[str, str]) -> float:
    """Seconds since the member's presence was last written."""
    async with engine.connect() as conn:
        ago = await conn.execute(
            text("SELECT extract(epoch FROM now() - last_active_at) FROM users WHERE id = :u"),
            {"u": user["X-Test-User"]},
        )
        return float(ago.scalar_one())


async def _go_quiet(engine: Any, user: dict[str, str]) -> None:
    """The member's presence a minute old: the next request refreshes it."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET last_active_at = now() - interval '1 minute' WHERE id = :u"),
            {"u": user["X-Test-User"]},
        )


async def test_a_presence_write_due_is_written_by_the_statement(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    """A member's first vote after ten quiet seconds is settled in the one statement, which
    refreshes their presence as users.service.current_user would (migration 0011)."""
    c = await _cast_of(client, "STALE")
    g1 = c.guests[0]
    engine = create_async_engine(asyncpg_url(database_url), poolclass=NullPool)
    try:
        await _go_quiet(engine, g1)
        with _recorded(app) as (_published, outcomes):
            response = await _vote(client, g1, c.songs[0], 1)
        assert response.status_code == 200 and response.json()["total_votes"] == 1
        assert [_kind(o) for o in outcomes] == ["cast"]
        assert await _last_active_ago(engine, g1) < 10  # refreshed
        await _go_quiet(engine, g1)
        with _recorded(app) as (_published, outcomes):
            response = await _vote(client, g1, c.songs[0], 1)  # the same vote again
        assert response.json()["total_votes"] == 1
        assert [_kind(o) for o in outcomes] == ["unchanged"]
        assert await _last_active_ago(engine, g1) < 10  # a re-cast vote refreshes it too
    finally:
        await engine.dispose()


async def test_a_deferred_vote_leaves_presence_to_the_general_path(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    """A deferral writes nothing, presence included; the general path then refreshes it
    with the vote it accepts."""
    c = await _cast_of(client, "QUIET")
    g1 = c.guests[0]
    fast = app.state.ctx.vote_fast_path
    await _rules(client, c.host, downvotes_per_hour=3)
    engine = create_async_engine(asyncpg_url(database_url), poolclass=NullPool)
    try:
        await _go_quiet(engine, g1)
        outcome = await fast._cast(await _claims(app, g1), uuid.UUID(c.songs[0]), -1)
        assert outcome == "defer:downvote_limit"
        assert await _last_active_ago(engine, g1) > 50  # untouched
        response = await _vote(client, g1, c.songs[0], -1)
        assert response.status_code == 200 and response.json()["total_votes"] == -1
        assert await _last_active_ago(engine, g1) < 10  # the general path's refresh
    finally:
        await engine.dispose()


async def test_a_presence_refresh_never_waits_for_the_members_row(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    """While another transaction holds the member's row (their own other request: a
    profile edit), the vote is settled without waiting for it and skips only the refresh
    (the general path takes that row before the party's, the statement after it: waiting
    could deadlock)."""
    c = await _cast_of(client, "HELD")
    g1 = c.guests[0]
    engine = create_async_engine(asyncpg_url(database_url), poolclass=NullPool)
    try:
        await _go_quiet(engine, g1)
        async with engine.begin() as holder:
            await holder.execute(
                text("UPDATE users SET display_name = :n WHERE id = :u"),
                {"n": "busy", "u": g1["X-Test-User"]},
            )
            with _recorded(app) as (_published, outcomes):
                # Bounded only so that a regression fails instead of hanging the suite.
                response = await asyncio.wait_for(_vote(client, g1, c.songs[0], 1), 20)
            assert response.status_code == 200 and response.json()["total_votes"] == 1
            assert [_kind(o) for o in outcomes] == ["cast"]
        assert await _last_active_ago(engine, g1) > 50  # skipped: the next request writes it
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "settings_overrides", [{"members_counted_per_address": 2, "trusted_proxies": ["127.0.0.1/32"]}]
)
async def test_attacks_fail_next_to_the_honest_vote(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Through the fast path: many accounts of one address stop at the cap, a member of
    another party, a kicked and a banned member, a played and a removed song and a downvote
    over the hour's limit are refused, while the honest vote next to each counts."""
    host = await make_host(client)
    code = "ATTACK"
    home = {"X-Forwarded-For": "192.0.2.1"}
    await client.post(f"{API}/sessions/create", json={"join_code": code}, headers={**host, **home})
    await client.post(f"{API}/songs/add", json=track(0), headers=host)  # plays
    song = (await client.post(f"{API}/songs/add", json=track(1), headers=host)).json()["id"]
    other = (await client.post(f"{API}/songs/add", json=track(2), headers=host)).json()["id"]

    async def member(address: str) -> dict[str, str]:
        who = {**await make_user(client, anonymous=True), "X-Forwarded-For": address}
        joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=who)
        assert joined.status_code == 200, joined.text
        return who

    sybils = [await member("203.0.113.9") for _ in range(4)]
    honest = await member("198.51.100.7")
    with _recorded(app) as (_published, outcomes):
        statuses = [(await _vote(client, s, song, 1)).status_code for s in sybils]
        assert statuses == [200, 200, 409, 409]
        assert (await _vote(client, honest, song, 1)).json()["total_votes"] == 3
    assert [_kind(o) for o in outcomes] == ["cast", "cast", *["defer:address_cap"] * 2, "cast"]

    other_host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "ELSEWH"}, headers=other_host)
    outsider = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "ELSEWH"}, headers=outsider)
    refused = await _vote(client, outsider, song, 1)
    assert (refused.status_code, refused.json()["code"]) == (404, "song_not_found")

    session_id = (await client.get(f"{API}/sessions/current", headers=host)).json()["session"]
    for what, who in (("kick", sybils[0]), ("ban", sybils[1])):
        url = f"{API}/sessions/{session_id['id']}/members/{who['X-Test-User']}/{what}"
        assert (await client.post(url, headers=host)).status_code == 200
        refused = await _vote(client, who, other, 1)
        assert (refused.status_code, refused.json()["code"]) == (404, "no_active_session")
    assert (await _vote(client, honest, other, 1)).status_code == 200

    playing = (await client.get(f"{API}/sessions/current", headers=host)).json()
    refused = await _vote(client, honest, playing["current_song"]["id"], 1)
    assert (refused.status_code, refused.json()["code"]) == (409, "song_not_votable")
    assert (await client.delete(f"{API}/songs/{other}", headers=host)).status_code == 200
    refused = await _vote(client, honest, other, None)
    assert (refused.status_code, refused.json()["code"]) == (409, "song_not_votable")

    await _rules(client, host, downvotes_per_hour=1)
    third = (await client.post(f"{API}/songs/add", json=track(3), headers=host)).json()["id"]
    assert (await _vote(client, honest, song, -1)).status_code == 200
    refused = await _vote(client, honest, third, -1)
    assert (refused.status_code, refused.json()["code"]) == (429, "downvote_limit")
    assert (await _vote(client, honest, third, 1)).status_code == 200
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert {q["id"]: q["votes"] for q in current["queue"]} == {song: 1, third: 1}


async def test_fifty_concurrent_voters_through_the_fast_path(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Concurrent requests, each its own statement: every vote counts once, each answer saw
    its own committed total, and the events carry contiguous, distinct versions."""
    host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "FIFTY"}, headers=host)
    guests = await asyncio.gather(*(make_user(client, anonymous=True) for _ in range(50)))
    for guest in guests:
        await client.post(f"{API}/sessions/join", json={"join_code": "FIFTY"}, headers=guest)
    await client.post(f"{API}/songs/add", json=track(0), headers=host)
    song = (await client.post(f"{API}/songs/add", json=track(1), headers=host)).json()["id"]
    start = (await client.get(f"{API}/sessions/current", headers=host)).json()["session"]
    with _recorded(app) as (published, outcomes):
        responses = await asyncio.gather(*(_vote(client, g, song, 1) for g in guests))
    assert all(r.status_code == 200 for r in responses)
    assert sorted(r.json()["total_votes"] for r in responses) == list(range(1, 51))
    assert [_kind(o) for o in outcomes] == ["cast"] * 50
    versions = sorted(e.version for e in published)
    assert versions == list(range(start["version"] + 1, start["version"] + 51))
    by_version = {e.version: e.data["total_votes"] for e in published}
    assert [by_version[v] for v in versions] == list(range(1, 51))  # the version orders totals
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["queue"][0]["votes"] == 50
    assert current["session"]["version"] == start["version"] + 50


async def test_a_killed_connection_costs_no_vote(app: FastAPI, client: httpx.AsyncClient) -> None:
    c = await _cast_of(client, "KILLV")
    g1 = c.guests[0]
    for value, total in ((1, 1), (-1, -1), (None, 0)):
        assert await _kill_the_pools_connections(app) >= 1
        response = await _vote(client, g1, c.songs[0], value)
        assert response.status_code == 200 and response.json()["total_votes"] == total
    assert app.state.ctx.vote_fast_path.enabled is True


async def test_a_database_without_the_function_votes_through_the_general_path(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = await _cast_of(client, "NOFUNC")
    missing = "SELECT * FROM queueit_rls.cast_vote_missing($1, $2, $3, $4, $5, $6, $7, $8)"
    monkeypatch.setattr(vote_fast_path, "_CAST_VOTE", missing)
    with _recorded(app) as (published, _outcomes):
        for guest, total in zip(c.guests, (1, 2, 3), strict=True):
            response = await _vote(client, guest, c.songs[0], 1)
            assert response.status_code == 200 and response.json()["total_votes"] == total
    assert app.state.ctx.vote_fast_path.enabled is False  # asked once, then not again
    assert [e.data["total_votes"] for e in published] == [1, 2, 3]


async def test_no_connection_for_the_fast_path_is_the_general_paths_to_answer(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout that fails (the database starting up: asyncpg's error, not SQLAlchemy's)
    sends nothing; the general path votes (or answers 503 database_unavailable), never 500."""
    c = await _cast_of(client, "NOCONN")
    engine = app.state.ctx.database.engine

    async def starting_up(_engine: Any) -> Any:
        raise engine.dialect.loaded_dbapi.Error("the database system is starting up")

    monkeypatch.setattr(type(engine), "raw_connection", starting_up)  # the engine has slots
    response = await _vote(client, c.guests[0], c.songs[0], 1)
    assert response.status_code == 200 and response.json()["total_votes"] == 1
    assert app.state.ctx.vote_fast_path.enabled is True
