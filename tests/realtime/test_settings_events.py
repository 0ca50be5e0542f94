"""A change of the party's rules reaches every socket as one versioned `session.updated`."""

from __future__ import annotations

import asyncio

import httpx

from tests.realtime.harness import ThreadServer, bearer, join, open_ws, recv, start_party


async def test_a_rule_change_is_one_event_on_every_socket(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    other = await join(http, party)
    url = server.ws_url(party.session_id)
    async with (
        await open_ws(url, token=bearer(party.guest)) as guest_ws,
        await open_ws(url, token=bearer(other)) as other_ws,
    ):
        snapshots = [await recv(guest_ws), await recv(other_ws)]
        assert {s["event"] for s in snapshots} == {"session.snapshot"}
        version = snapshots[0]["data"]["session"]["version"]
        changed = await http.patch(
            "/api/v1/sessions/current/settings",
            json={"vote_mode": "up_only", "blocked_artists": ["Nickelback"]},
            headers=party.host,
        )
        assert changed.status_code == 200, changed.text
        for ws in (guest_ws, other_ws):
            event = await recv(ws)
            assert event["event"] == "session.updated"
            assert event["version"] == version + 1
            assert event["data"]["settings"]["vote_mode"] == "up_only"
            assert event["data"]["settings"]["blocked_artists"] == ["Nickelback"]
            # One event for the change: nothing else follows it.
            try:
                extra = await asyncio.wait_for(ws.recv(), 0.3)
            except TimeoutError:
                extra = None
            assert extra is None, extra
