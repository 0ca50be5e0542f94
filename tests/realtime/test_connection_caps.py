"""Connection caps of the realtime endpoint (realtime/admission.py): sockets waiting to sign in
per address, re-opening per address, open sockets per user (the oldest closes with 4429).
Attackers and honest clients are real WebSocket clients; a second loopback address
(127.0.0.2) plays another device."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.factories import track
from tests.realtime.harness import (
    Party,
    ThreadServer,
    bearer,
    close_code_of,
    open_ws,
    recv,
    start_party,
    until,
)

OTHER_DEVICE = ("127.0.0.2", 0)


@pytest.fixture
def realtime_overrides() -> dict[str, Any]:
    # Unauthenticated sockets stay waiting for the whole test (never closed by the 4408 timer).
    return {"realtime_auth_timeout_seconds": 60}


async def _attempt(url: str) -> tuple[ClientConnection | None, int, float]:
    """Open a socket without a token: (the socket, 101) or (None, the refusal's status), and
    how long the answer took."""
    began = time.monotonic()
    try:
        ws = await open_ws(url)
    except InvalidStatus as exc:
        return None, exc.response.status_code, time.monotonic() - began
    return ws, 101, time.monotonic() - began


async def _snapshot(ws: ClientConnection) -> dict[str, Any]:
    message = await recv(ws)
    assert message["event"] == "session.snapshot", message
    return message


async def _alive(ws: ClientConnection) -> bool:
    try:
        await ws.send('{"type": "ping"}')
        await until(ws, "pong")
    except (ConnectionClosed, TimeoutError):
        return False
    return True


async def test_unauthenticated_sockets_from_one_address_are_capped(
    server: ThreadServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    party = await start_party(http)
    url = server.ws_url(party.session_id)
    cap = server.settings.realtime_max_unauthenticated_per_address
    assert cap == 32  # the default
    limit = asyncio.Semaphore(100)

    async def attempt() -> tuple[ClientConnection | None, int, float]:
        async with limit:
            return await _attempt(url)

    results = await asyncio.gather(*(attempt() for _ in range(500)))
    held = [ws for ws, _, _ in results if ws is not None]
    refused = [(status, took) for ws, status, took in results if ws is None]
    try:
        assert len(held) == cap
        assert len(refused) == 500 - cap
        assert {status for status, _ in refused} == {429}
        # Refused at once, not after the 60 s sign-in timeout.
        assert max(took for _, took in refused) < 10
        try:
            await open_ws(url)
        except InvalidStatus as exc:
            body = orjson.loads(exc.response.body or b"{}")
            assert body["code"] == "too_many_connections"
            assert set(body) == {"detail", "code", "request_id"}
            assert exc.response.headers["Retry-After"] == "1"
        else:
            pytest.fail("a socket beyond the cap was accepted")
        # 469 refusals and not one ERROR line (uvicorn's spurious one is filtered).
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

        # Meanwhile a guest on another device connects and signs in as usual.
        token = bearer(party.guest)
        async with await open_ws(url, token=token, local_addr=OTHER_DEVICE) as ws:
            await _snapshot(ws)
        async with await open_ws(url, local_addr=OTHER_DEVICE) as ws:  # first-message auth
            await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
            await _snapshot(ws)
    finally:
        await asyncio.gather(*(ws.close() for ws in held))

    # Once the waiting sockets are gone, the address is welcome again.
    deadline = time.monotonic() + 20
    while True:
        try:
            async with await open_ws(url, token=bearer(party.guest)) as ws:
                await _snapshot(ws)
            break
        except InvalidStatus:
            assert time.monotonic() < deadline, "the address stayed refused after its sockets left"
            await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "realtime_overrides",
    [
        {
            "rate_limit_enabled": True,
            "rate_limits": {"realtime_connect_ip": "5/minute", "realtime_connect": "100/minute"},
        }
    ],
)
async def test_reopening_is_rate_limited_per_address(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    url = server.ws_url(party.session_id)
    token = bearer(party.guest)
    for _ in range(5):
        async with await open_ws(url, token=token) as ws:
            await _snapshot(ws)
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(url, token=token)
    response = refused.value.response
    assert response.status_code == 429
    assert orjson.loads(response.body or b"{}")["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    # Another address is not affected.
    async with await open_ws(url, token=token, local_addr=OTHER_DEVICE) as ws:
        await _snapshot(ws)


async def _open_member(server: ThreadServer, party: Party) -> ClientConnection:
    ws = await open_ws(server.ws_url(party.session_id), token=bearer(party.guest))
    await _snapshot(ws)
    return ws


async def test_a_users_sixth_socket_closes_the_oldest_with_4429(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    assert server.settings.realtime_max_sockets_per_user == 5  # the default
    sockets = [await _open_member(server, party) for _ in range(5)]
    try:
        assert all([await _alive(ws) for ws in sockets])
        sockets.append(await _open_member(server, party))
        assert await close_code_of(sockets[0]) == 4429
        assert sockets[0].close_reason == "too many open sockets for this account"
        assert all([await _alive(ws) for ws in sockets[1:]])
        # The next one closes the next oldest, and so on.
        sockets.append(await _open_member(server, party))
        assert await close_code_of(sockets[1]) == 4429
        assert all([await _alive(ws) for ws in sockets[2:]])
        # Another member's sockets are not touched by this user's count.
        host = await open_ws(server.ws_url(party.session_id), token=bearer(party.host))
        sockets.append(host)
        await _snapshot(host)
        assert all([await _alive(ws) for ws in sockets[2:]])
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


async def test_a_guests_phone_reconnects_fine(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    # Clean reconnects: close, open again, many times over.
    for _ in range(8):
        ws = await _open_member(server, party)
        assert await _alive(ws)
        await ws.close()
    # A phone that drops off the network leaves its old socket behind and reconnects: the
    # newest socket always works and gets the party's events; only stale ones are closed.
    stale: list[ClientConnection] = []
    try:
        for _ in range(8):
            newest = await _open_member(server, party)
            assert await _alive(newest)
            stale.append(newest)
        alive = [ws for ws in stale if await _alive(ws)]
        assert alive == stale[-5:]
        added = await http.post("/api/v1/songs/add", json=track(1), headers=party.host)
        assert added.status_code == 200, added.text
        for ws in alive:
            assert (await until(ws, "now_playing.updated"))["data"]["current_song"] is not None
    finally:
        await asyncio.gather(*(ws.close() for ws in stale))


async def test_a_refused_socket_never_closes_a_working_one(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    """An old tab of a party the guest is not in (4403) does not count against the cap."""
    party = await start_party(http)
    other = await start_party(http)
    sockets = [await _open_member(server, party) for _ in range(5)]
    try:
        stale_tab = await open_ws(server.ws_url(other.session_id), token=bearer(party.guest))
        assert await close_code_of(stale_tab) == 4403
        assert all([await _alive(ws) for ws in sockets])
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
