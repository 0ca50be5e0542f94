"""Members see every committed change, in order, with truthful versions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from queueit.core.engine import create_engine
from queueit.party.models import Party
from tests.conftest import make_settings
from tests.factories import track
from tests.realtime.harness import (
    ThreadServer,
    bearer,
    drain_until_closed,
    join,
    open_ws,
    recv,
    start_party,
    until,
)


async def test_every_event_type_arrives_in_order(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    url = server.ws_url(party.session_id)
    async with (
        await open_ws(url, token=bearer(party.guest)) as guest_ws,
        await open_ws(url, token=bearer(party.host)) as host_ws,
    ):
        snapshot = await recv(guest_ws)
        assert snapshot["event"] == "session.snapshot"
        assert snapshot["session_id"] == party.session_id
        assert snapshot["data"]["session"]["id"] == party.session_id
        assert snapshot["data"]["participant_count"] == 2
        assert snapshot["data"]["my_votes"] == {}
        base = snapshot["version"]
        assert snapshot["data"]["session"]["version"] == base
        assert (await recv(host_ws))["event"] == "session.snapshot"

        first = (await http.post("/api/v1/songs/add", json=track(1), headers=party.host)).json()
        second = (await http.post("/api/v1/songs/add", json=track(2), headers=party.host)).json()
        vote = await http.post(
            f"/api/v1/songs/{second['id']}/vote", json={"vote_value": 1}, headers=party.guest
        )
        assert vote.json() == {"ok": True, "total_votes": 1}
        locked = await http.patch(
            "/api/v1/sessions/control_session", json={"is_locked": True}, headers=party.host
        )
        assert locked.status_code == 200
        assert (await http.post("/api/v1/sessions/end", headers=party.host)).status_code == 200

        messages = await drain_until_closed(guest_ws)
        assert guest_ws.close_code == 4404
        host_messages = await drain_until_closed(host_ws)
        assert host_ws.close_code == 4404

    assert [(m["event"], m["version"] - base) for m in messages] == [
        ("now_playing.updated", 1),  # autoplay: one change, three events, one version
        ("queue.updated", 1),
        ("session.updated", 1),
        ("queue.updated", 2),
        ("votes.updated", 3),
        ("session.updated", 4),
        ("session.ended", 5),  # the last message before the 4404 close
    ]
    assert [m["event"] for m in host_messages] == [m["event"] for m in messages]
    by_name = {m["event"]: m for m in messages}
    for message in messages:
        assert message["session_id"] == party.session_id
        assert message["ts"].endswith("+00:00")
    playing = by_name["now_playing.updated"]["data"]
    assert playing["current_song"]["id"] == first["id"]
    assert playing["current_song"]["status"] == "playing"
    assert playing["last_skip_was_crowdsourced"] is False
    queue = messages[3]["data"]
    assert [song["id"] for song in queue["queue"]] == [second["id"]]
    assert queue["queue_total"] == 1
    votes = by_name["votes.updated"]["data"]
    assert votes["queued_song_id"] == second["id"]
    assert votes["total_votes"] == 1
    assert votes["entered_tier_by_gain"] is True
    assert votes["last_entered_tier_at"]
    updated = dict(messages[5]["data"])
    # Additive (party rules): the party's settings, here the defaults.
    assert updated.pop("settings")["vote_mode"] == "up_down"
    assert updated == {
        "is_locked": True,
        "is_paused": False,
        "participant_count": 2,
        "skip_request_count": 0,
    }
    assert by_name["session.ended"]["data"] == {"reason": "ended_by_host"}


async def test_ping_resync_and_unknown_messages(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    async with await open_ws(server.ws_url(party.session_id), token=bearer(party.guest)) as ws:
        snapshot = await recv(ws)
        await http.post("/api/v1/songs/add", json=track(1), headers=party.host)
        await until(ws, "session.updated")
        version = snapshot["version"] + 1

        await ws.send('{"type": "ping"}')
        pong = await recv(ws)
        assert (pong["event"], pong["version"], pong["data"]) == ("pong", version, {})

        await ws.send('{"type": "resync"}')
        fresh = await recv(ws)
        assert fresh["event"] == "session.snapshot"
        assert fresh["version"] == version
        assert fresh["data"]["current_song"]["song"]["id"] == track(1)["id"]

        await ws.send('{"type": "dance"}')
        error = await recv(ws)
        assert error["event"] == "error"
        assert error["data"]["code"] == "unknown_message"
        await ws.send("not json")
        assert (await recv(ws))["event"] == "error"
        await ws.send(b"\x00binary")
        assert (await recv(ws))["event"] == "error"

        # Still serving events afterwards.
        await http.post("/api/v1/songs/add", json=track(2), headers=party.host)
        assert (await recv(ws))["version"] == version + 1


@pytest.mark.parametrize(
    "realtime_overrides",
    [{"presence_ttl_seconds": 2, "realtime_presence_interval_seconds": 0.3}],
)
async def test_open_sockets_count_as_presence(
    server: ThreadServer, http: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    party = await start_party(http)
    await join(http, party)  # a member without a socket goes stale
    async with await open_ws(server.ws_url(party.session_id), token=bearer(party.guest)) as ws:
        await recv(ws)
        await http.post("/api/v1/songs/add", json=track(1), headers=party.host)
        last_change = datetime.now(UTC)
        await asyncio.sleep(2.6)  # longer than the presence TTL: only the socket keeps the guest
        # The party counts as active too (idle expiry must not end it).
        engine = create_engine(make_settings(database_url, tmp_path / "probe"))
        try:
            async with engine.connect() as db:
                query = select(Party.last_activity_at).where(
                    Party.id == uuid.UUID(party.session_id)
                )
                active_at = (await db.execute(query)).scalar_one()
        finally:
            await engine.dispose()
        assert active_at > last_change + timedelta(seconds=1)
        skip = await http.post("/api/v1/sessions/request_skip", headers=party.host)
        # Host + connected guest are the participants; 1 request of 2 is not a majority.
        assert skip.json() == {
            "ok": True,
            "skip_request_count": 1,
            "participant_count": 2,
            "skipped": False,
        }


async def test_removing_one_guests_songs_is_one_queue_update(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    """The host's bulk removal (DELETE /sessions/current/members/{id}/songs) is one change:
    one `queue.updated`, one version, without the removed songs."""
    party = await start_party(http)
    await http.post("/api/v1/songs/add", json=track(1), headers=party.host)  # plays
    for n in (2, 3, 4):
        await http.post("/api/v1/songs/add", json=track(n), headers=party.guest)
    kept = (await http.post("/api/v1/songs/add", json=track(5), headers=party.host)).json()
    async with await open_ws(server.ws_url(party.session_id), token=bearer(party.host)) as ws:
        base = (await recv(ws))["version"]
        guest_id = party.guest["X-Test-User"]
        removed = await http.delete(
            f"/api/v1/sessions/current/members/{guest_id}/songs", headers=party.host
        )
        assert removed.json() == {"ok": True, "removed": 3}
        update = await until(ws, "queue.updated")
        assert update["version"] == base + 1
        assert [s["id"] for s in update["data"]["queue"]] == [kept["id"]]
        await ws.send('{"type": "ping"}')
        assert (await recv(ws))["event"] == "pong"  # nothing else was sent in between
