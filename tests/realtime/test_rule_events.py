"""The vote rules on the socket: an auto-removal is one `queue.updated` that says why the
song left (a rule change's own event: tests/realtime/test_settings_events.py)."""

from __future__ import annotations

import httpx

from tests.factories import track
from tests.realtime.harness import ThreadServer, bearer, join, open_ws, recv, start_party


async def test_an_auto_removal_is_one_queue_update_saying_why(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    """4 present: the threshold is -2, so the third downvote takes the song out."""
    party = await start_party(http)
    critics = [party.guest, await join(http, party), await join(http, party)]
    await http.post("/api/v1/songs/add", json=track(1), headers=party.host)  # plays
    doomed = (await http.post("/api/v1/songs/add", json=track(2), headers=party.host)).json()
    kept = (await http.post("/api/v1/songs/add", json=track(3), headers=party.host)).json()
    rules = {"auto_remove": True}
    await http.patch("/api/v1/sessions/current/settings", json=rules, headers=party.host)
    vote = f"/api/v1/songs/{doomed['id']}/vote"
    for critic in critics[:2]:
        assert (await http.post(vote, json={"vote_value": -1}, headers=critic)).status_code == 200
    async with await open_ws(server.ws_url(party.session_id), token=bearer(party.host)) as ws:
        base = (await recv(ws))["version"]
        last = await http.post(vote, json={"vote_value": -1}, headers=critics[2])
        assert last.json() == {"ok": True, "total_votes": -3}
        update = await recv(ws)  # the only message of this change
        assert (update["event"], update["version"]) == ("queue.updated", base + 1)
        assert [s["id"] for s in update["data"]["queue"]] == [kept["id"]]
        assert update["data"]["removed"] == [
            {"queued_song_id": doomed["id"], "reason": "auto_removed"}
        ]
        await ws.send('{"type": "ping"}')
        assert (await recv(ws))["event"] == "pong"  # no votes.updated for a song that left
