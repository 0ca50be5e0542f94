"""Who may open the socket, how they authenticate, and what closes it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.factories import make_user, token_for, track
from tests.realtime.harness import (
    ThreadServer,
    bearer,
    close_code_of,
    drain_until_closed,
    open_ws,
    recv,
    start_party,
    until,
)


@pytest.fixture
def realtime_overrides() -> dict[str, Any]:
    return {"realtime_auth_timeout_seconds": 1, "allowed_origins": ["https://party.example"]}


async def test_auth_by_header_query_or_first_message(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    token = bearer(party.guest)
    async with await open_ws(server.ws_url(party.session_id), token=token) as ws:
        assert (await recv(ws))["event"] == "session.snapshot"
    async with await open_ws(server.ws_url(party.session_id, f"?token={token}")) as ws:
        assert (await recv(ws))["event"] == "session.snapshot"
    async with await open_ws(server.ws_url(party.session_id.upper())) as ws:
        await ws.send(f'{{"type": "auth", "token": "{token}"}}')
        snapshot = await recv(ws)
        assert snapshot["event"] == "session.snapshot"
        assert snapshot["session_id"] == party.session_id


async def test_auth_timeout_closes_4408(server: ThreadServer, http: httpx.AsyncClient) -> None:
    party = await start_party(http)
    async with await open_ws(server.ws_url(party.session_id)) as ws:
        started = time.monotonic()
        assert await close_code_of(ws) == 4408
        assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize(
    ("how", "token"),
    [
        ("header", "not-a-jwt"),
        ("query", token_for(secret="another-secret-" + "y" * 32)),
        ("query", token_for(exp=int(time.time()) - 3600)),
        ("message", "not-a-jwt"),
        ("wrong_message", ""),
    ],
)
async def test_bad_token_closes_4401(
    server: ThreadServer, http: httpx.AsyncClient, how: str, token: str
) -> None:
    party = await start_party(http)
    url = server.ws_url(party.session_id)
    if how == "header":
        ws = await open_ws(url, token=token)
    else:
        ws = await open_ws(url + (f"?token={token}" if how == "query" else ""))
    async with ws:
        if how == "message":
            await ws.send(f'{{"type": "auth", "token": "{token}"}}')
        elif how == "wrong_message":
            await ws.send('{"type": "ping"}')
        assert await close_code_of(ws) == 4401


async def test_token_expiry_closes_4401_unless_refreshed(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    user_id = uuid.UUID(party.guest["X-Test-User"])
    short = token_for(user_id, is_anonymous=True, exp=int(time.time()) + 3)
    async with (
        await open_ws(server.ws_url(party.session_id), token=short) as expiring,
        await open_ws(server.ws_url(party.session_id), token=short) as refreshed,
    ):
        await recv(expiring)
        await recv(refreshed)
        fresh = token_for(user_id, is_anonymous=True)
        await refreshed.send(f'{{"type": "auth", "token": "{fresh}"}}')
        assert await close_code_of(expiring) == 4401
        await refreshed.send('{"type": "ping"}')
        assert (await until(refreshed, "pong"))["event"] == "pong"
        # A token for somebody else is refused.
        await refreshed.send(f'{{"type": "auth", "token": "{token_for()}"}}')
        assert await close_code_of(refreshed) == 4401


async def test_non_member_and_unknown_sessions_are_refused(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    stranger = await make_user(http)
    async with await open_ws(server.ws_url(party.session_id), token=bearer(stranger)) as ws:
        assert await close_code_of(ws) == 4403
    for session_id in (str(uuid.uuid4()), "not-a-uuid"):
        async with await open_ws(server.ws_url(session_id), token=bearer(party.guest)) as ws:
            assert await close_code_of(ws) == 4404


async def test_member_who_leaves_is_disconnected_4403(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    other = await start_party(http)
    url = server.ws_url(party.session_id)
    async with (
        await open_ws(url, token=bearer(party.guest)) as guest_ws,
        await open_ws(url, token=bearer(party.host)) as host_ws,
        await open_ws(server.ws_url(other.session_id), token=bearer(other.guest)) as mover_ws,
    ):
        await recv(guest_ws)
        await recv(host_ws)
        await recv(mover_ws)
        assert (await http.post("/api/v1/sessions/leave", headers=party.guest)).status_code == 200
        assert await close_code_of(guest_ws) == 4403
        update = await until(host_ws, "session.updated")
        assert update["data"]["participant_count"] == 1
        # Joining another party leaves the old one: that socket is closed too.
        moved = await http.post(
            "/api/v1/sessions/join", json={"join_code": party.join_code}, headers=other.guest
        )
        assert moved.status_code == 200
        assert await close_code_of(mover_ws) == 4403
        assert (await until(host_ws, "session.updated"))["data"]["participant_count"] == 2
    # Gone for good: reconnecting is refused.
    async with await open_ws(url, token=bearer(party.guest)) as ws:
        assert await close_code_of(ws) == 4403


async def test_oversized_and_too_many_messages_close_1008(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    url = server.ws_url(party.session_id)
    async with await open_ws(url, token=bearer(party.guest)) as ws:
        await recv(ws)
        await ws.send('{"type": "ping", "pad": "' + "x" * 5000 + '"}')
        assert await close_code_of(ws) == 1008
    async with await open_ws(url, token=bearer(party.guest)) as ws:
        await recv(ws)
        for _ in range(25):
            await ws.send('{"type": "ping"}')
        messages = await drain_until_closed(ws)
        assert ws.close_code == 1008
        assert len(messages) <= 20  # at most the pongs answered before the cap was hit


async def test_origin_must_be_allowed(server: ThreadServer, http: httpx.AsyncClient) -> None:
    party = await start_party(http)
    url = server.ws_url(party.session_id)
    token = bearer(party.guest)
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(url, token=token, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    async with await open_ws(url, token=token, origin="https://party.example") as ws:
        assert (await recv(ws))["event"] == "session.snapshot"
    async with await open_ws(url, token=token) as ws:  # native apps send no Origin
        assert (await recv(ws))["event"] == "session.snapshot"
        # Events still flow to a socket that passed every check.
        await http.post("/api/v1/songs/add", json=track(1), headers=party.host)
        assert (await recv(ws))["event"] == "now_playing.updated"


@pytest.mark.parametrize(
    "realtime_overrides",
    [{"rate_limit_enabled": True, "rate_limits": {"realtime_connect": "5/hour"}}],
)
async def test_connects_are_rate_limited_per_user(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    token = bearer(party.guest)
    codes = []
    for _ in range(7):  # 5 connects per user, then 1008
        async with await open_ws(server.ws_url(party.session_id), token=token) as ws:
            first = await recv(ws) if len(codes) < 5 else None
            codes.append("snapshot" if first else await close_code_of(ws))
    assert codes[:5] == ["snapshot"] * 5
    assert codes[5:] == [1008, 1008]


async def test_open_sockets_are_counted_in_metrics(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    from prometheus_client import REGISTRY

    def gauge() -> float:
        return REGISTRY.get_sample_value("queueit_ws_connections") or 0.0

    party = await start_party(http)
    before = gauge()
    async with await open_ws(server.ws_url(party.session_id), token=bearer(party.guest)) as ws:
        assert (await recv(ws))["event"] == "session.snapshot"
        assert gauge() == before + 1
    for _ in range(200):  # the server unregisters the socket right after the close
        if gauge() == before:
            break
        await asyncio.sleep(0.01)
    assert gauge() == before
