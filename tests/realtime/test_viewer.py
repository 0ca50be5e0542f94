"""A TV link's token opens the realtime socket read only (issue 21, item 1): the same
snapshot, versions and resync as a member, no presence, no writes, closed with 4404 when the
party ends and with 4401 when the link expires."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from queueit.core.engine import create_engine
from queueit.party.models import Party
from queueit.web import tv
from tests.conftest import make_settings
from tests.factories import auth, track
from tests.realtime.harness import (
    ThreadServer,
    bearer,
    close_code_of,
    open_ws,
    recv,
    start_party,
    until,
)


async def tv_token(http: httpx.AsyncClient, session_id: str, host: dict[str, str]) -> str:
    """The token of the host's TV link, as the app hands it to the TV."""
    link = await http.post(f"/api/v1/sessions/{session_id}/tv_link", headers=host)
    assert link.status_code == 200, link.text
    return str(link.json()["url"].split("token=", 1)[1])


async def open_viewer(server: ThreadServer, session_id: str, token: str) -> Any:
    ws = await open_ws(server.ws_url(session_id))
    await ws.send(f'{{"type": "auth", "token": "{token}"}}')
    return ws


async def test_a_tv_link_follows_the_party_live(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    await http.post("/api/v1/songs/add", json=track(1), headers=party.host)  # plays
    second = (await http.post("/api/v1/songs/add", json=track(2), headers=party.host)).json()
    token = await tv_token(http, party.session_id, party.host)
    async with await open_viewer(server, party.session_id, token) as ws:
        snapshot = await recv(ws)
        assert snapshot["event"] == "session.snapshot"
        data = snapshot["data"]
        # What GET /tv_state answers: the same document, the same version.
        state = await http.get(f"/api/v1/sessions/{party.session_id}/tv_state?token={token}")
        assert data == state.json()
        assert snapshot["version"] == data["session"]["version"]
        assert data["my_votes"] == {} and data["queue"][0]["id"] == second["id"]

        vote = await http.post(
            f"/api/v1/songs/{second['id']}/vote", json={"vote_value": 1}, headers=party.guest
        )
        assert vote.status_code == 200
        event = await until(ws, "votes.updated")
        assert event["version"] == snapshot["version"] + 1
        assert event["data"]["total_votes"] == 1

        await ws.send('{"type": "ping"}')
        assert (await until(ws, "pong"))["version"] == event["version"]
        await ws.send('{"type": "resync"}')
        fresh = await until(ws, "session.snapshot")
        assert fresh["version"] == event["version"]
        assert fresh["data"]["queue"][0]["votes"] == 1


async def test_a_viewer_can_change_nothing(server: ThreadServer, http: httpx.AsyncClient) -> None:
    party = await start_party(http)
    await http.post("/api/v1/songs/add", json=track(1), headers=party.host)
    second = (await http.post("/api/v1/songs/add", json=track(2), headers=party.host)).json()
    token = await tv_token(http, party.session_id, party.host)
    async with await open_viewer(server, party.session_id, token) as ws:
        snapshot = await recv(ws)
        # The socket takes no commands but its protocol's own.
        await ws.send(f'{{"type": "vote", "queued_song_id": "{second["id"]}", "value": 1}}')
        error = await until(ws, "error")
        assert error["data"]["code"] == "unknown_message"
        # The TV token is no access token: every write through HTTP is 401.
        tv_auth = auth(token)
        writes = [
            http.post(
                f"/api/v1/songs/{second['id']}/vote", json={"vote_value": 1}, headers=tv_auth
            ),
            http.post("/api/v1/songs/add", json=track(3), headers=tv_auth),
            http.post(
                "/api/v1/sessions/join", json={"join_code": party.join_code}, headers=tv_auth
            ),
            http.post("/api/v1/sessions/request_skip", headers=tv_auth),
            http.post("/api/v1/sessions/end", headers=tv_auth),
        ]
        assert [r.status_code for r in await asyncio.gather(*writes)] == [401] * 5
        await ws.send('{"type": "resync"}')
        after = await until(ws, "session.snapshot")
        assert after["version"] == snapshot["version"]  # nothing changed
        assert after["data"]["queue"][0]["votes"] == 0


@pytest.mark.parametrize(
    "realtime_overrides",
    [{"presence_ttl_seconds": 2, "realtime_presence_interval_seconds": 0.3}],
)
async def test_a_viewer_is_not_presence(
    server: ThreadServer, http: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    party = await start_party(http)
    token = await tv_token(http, party.session_id, party.host)
    party_id = uuid.UUID(party.session_id)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    engine = create_engine(make_settings(database_url, tmp_path / "probe"))

    async def activity() -> datetime:
        async with engine.connect() as db:
            query = select(Party.last_activity_at).where(Party.id == party_id)
            found: datetime = (await db.execute(query)).scalar_one()
        return found.replace(tzinfo=UTC) if found.tzinfo is None else found

    try:
        async with engine.begin() as db:
            await db.execute(
                update(Party).where(Party.id == party_id).values(last_activity_at=long_ago)
            )
        async with await open_viewer(server, party.session_id, token) as ws:
            await recv(ws)
            await asyncio.sleep(1.2)  # several presence rounds with only the TV connected
            assert await activity() < datetime.now(UTC) - timedelta(minutes=30)
            # The honest path: a member's socket does keep the party active.
            member = await open_ws(server.ws_url(party.session_id), token=bearer(party.guest))
            async with member:
                await recv(member)
                deadline = time.monotonic() + 10
                while await activity() < datetime.now(UTC) - timedelta(minutes=30):
                    assert time.monotonic() < deadline, "a member socket never counted"
                    await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def test_a_viewer_is_closed_4404_when_the_party_ends(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    token = await tv_token(http, party.session_id, party.host)
    async with await open_viewer(server, party.session_id, token) as ws:
        await recv(ws)
        assert (await http.post("/api/v1/sessions/end", headers=party.host)).status_code == 200
        assert (await until(ws, "session.ended"))["data"] == {"reason": "ended_by_host"}
        assert await close_code_of(ws) == 4404
    async with await open_viewer(server, party.session_id, token) as ws:
        assert await close_code_of(ws) == 4404  # and a reconnect is told the same


async def test_a_viewer_is_closed_4401_when_the_link_expires(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    party_id = uuid.UUID(party.session_id)
    key = server.state.tv_key
    short = tv.mint(key, party_id=party_id, ttl_seconds=2)
    async with await open_viewer(server, party.session_id, short) as ws:
        started = time.monotonic()
        assert (await recv(ws))["event"] == "session.snapshot"
        assert await close_code_of(ws, timeout=15) == 4401
        assert 0.5 < time.monotonic() - started < 10

    # A refreshed link moves the deadline, as a member's refreshed token does.
    short = tv.mint(key, party_id=party_id, ttl_seconds=2)
    async with await open_viewer(server, party.session_id, short) as ws:
        await recv(ws)
        fresh = tv.mint(key, party_id=party_id, ttl_seconds=3600)
        await ws.send(f'{{"type": "auth", "token": "{fresh}"}}')
        await asyncio.sleep(3)
        await ws.send('{"type": "ping"}')
        assert (await until(ws, "pong"))["event"] == "pong"  # still open past the first link


@pytest.mark.parametrize("problem", ["expired", "other_party", "forged", "member_refresh"])
async def test_bad_viewer_tokens_close_4401(
    server: ThreadServer, http: httpx.AsyncClient, problem: str
) -> None:
    party = await start_party(http)
    party_id = uuid.UUID(party.session_id)
    key = server.state.tv_key
    token = {
        "expired": tv.mint(key, party_id=party_id, ttl_seconds=-3600),
        "other_party": tv.mint(key, party_id=uuid.uuid4(), ttl_seconds=3600),
        "forged": tv.mint(b"k" * 32, party_id=party_id, ttl_seconds=3600),
        "member_refresh": tv.mint(key, party_id=party_id, ttl_seconds=3600),
    }[problem]
    if problem == "member_refresh":
        # A viewer cannot become a member by sending a member's token.
        async with await open_viewer(server, party.session_id, token) as ws:
            await recv(ws)
            await ws.send(f'{{"type": "auth", "token": "{bearer(party.guest)}"}}')
            assert await close_code_of(ws) == 4401
        return
    async with await open_viewer(server, party.session_id, token) as ws:
        assert await close_code_of(ws) == 4401


@pytest.mark.parametrize(
    "realtime_overrides",
    [{"rate_limit_enabled": True, "rate_limits": {"realtime_connect": "3/hour"}}],
)
async def test_viewer_connects_count_against_the_connect_limit(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    """A party's TV sockets count as one caller (the party id), like one user's sockets."""
    party = await start_party(http)
    token = await tv_token(http, party.session_id, party.host)
    codes: list[Any] = []
    for _ in range(4):
        async with await open_viewer(server, party.session_id, token) as ws:
            message = await recv(ws) if len(codes) < 3 else None
            codes.append(message["event"] if message else await close_code_of(ws))
    assert codes == ["session.snapshot"] * 3 + [1008]
    # The members' own budget is untouched by the TV.
    async with await open_ws(server.ws_url(party.session_id), token=bearer(party.guest)) as ws:
        assert (await recv(ws))["event"] == "session.snapshot"
