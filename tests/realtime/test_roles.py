"""Roles over real sockets: a kicked or banned member's sockets close with 4410 within a
second, and every socket of the party hears a change of roles as one versioned event."""

from __future__ import annotations

import time

import httpx

from tests.factories import make_user
from tests.realtime.harness import (
    ThreadServer,
    bearer,
    close_code_of,
    drain_until_closed,
    join,
    open_ws,
    recv,
    start_party,
    until,
)

API = "/api/v1"


async def test_a_kicked_members_socket_closes_4410_within_a_second(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    url = server.ws_url(party.session_id)
    guest = party.guest["X-Test-User"]
    async with (
        await open_ws(url, token=bearer(party.guest)) as guest_ws,
        await open_ws(url, token=bearer(party.host)) as host_ws,
    ):
        await recv(guest_ws)
        snapshot = await recv(host_ws)
        started = time.monotonic()
        kicked = await http.post(
            f"{API}/sessions/{party.session_id}/members/{guest}/kick", headers=party.host
        )
        assert kicked.status_code == 200, kicked.text
        await drain_until_closed(guest_ws, timeout=1)
        assert guest_ws.close_code == 4410
        assert time.monotonic() - started < 1
        update = await until(host_ws, "session.updated")
        assert update["version"] > snapshot["version"]
        assert update["data"]["participant_count"] == 1
    # They may come back: a kick is not a ban.
    rejoined = await http.post(
        f"{API}/sessions/join", json={"join_code": party.join_code}, headers=party.guest
    )
    assert rejoined.status_code == 200
    async with await open_ws(url, token=bearer(party.guest)) as ws:
        assert (await recv(ws))["event"] == "session.snapshot"


async def test_a_banned_members_socket_closes_4410_and_cannot_come_back(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    url = server.ws_url(party.session_id)
    guest = party.guest["X-Test-User"]
    async with await open_ws(url, token=bearer(party.guest)) as guest_ws:
        await recv(guest_ws)
        banned = await http.post(
            f"{API}/sessions/{party.session_id}/members/{guest}/ban", headers=party.host
        )
        assert banned.status_code == 200, banned.text
        assert await close_code_of(guest_ws, timeout=1) == 4410
    again = await http.post(
        f"{API}/sessions/join", json={"join_code": party.join_code}, headers=party.guest
    )
    assert again.status_code == 403 and again.json()["code"] == "banned"
    async with await open_ws(url, token=bearer(party.guest)) as ws:
        assert await close_code_of(ws) == 4403


async def test_every_socket_hears_a_role_change_as_one_versioned_event(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    other = await join(http, party)
    heir = await make_user(http, username="heir-of-the-party")
    joined = await http.post(
        f"{API}/sessions/join", json={"join_code": party.join_code}, headers=heir
    )
    assert joined.status_code == 200
    url = server.ws_url(party.session_id)
    guest = party.guest["X-Test-User"]
    async with (
        await open_ws(url, token=bearer(party.host)) as host_ws,
        await open_ws(url, token=bearer(party.guest)) as guest_ws,
        await open_ws(url, token=bearer(other)) as other_ws,
    ):
        sockets = (host_ws, guest_ws, other_ws)
        versions = [(await recv(ws))["version"] for ws in sockets]
        granted = await http.post(
            f"{API}/sessions/{party.session_id}/members/{guest}/co-host", headers=party.host
        )
        assert granted.status_code == 200
        for ws, before in zip(sockets, versions, strict=True):
            event = await until(ws, "roles.updated")
            assert event["version"] == before + 1
            assert event["data"] == {
                "host_id": party.host["X-Test-User"],
                "co_host_ids": [guest],
            }
        handed = await http.post(
            f"{API}/sessions/{party.session_id}/hand-over",
            json={"user_id": heir["X-Test-User"], "old_host_becomes": "guest"},
            headers=party.host,
        )
        assert handed.status_code == 200, handed.text
        for ws in sockets:
            event = await until(ws, "roles.updated")
            assert event["data"]["host_id"] == heir["X-Test-User"]
            assert event["data"]["co_host_ids"] == [guest]
