"""The whole party through the HTTP API: create, join, add, vote, skip, finish, history."""

from __future__ import annotations

import httpx

from tests.factories import make_host, make_user, track


async def test_party_flow(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    created = await client.post(
        "/api/v1/sessions/create", json={"join_code": " party-1 "}, headers=host
    )
    assert created.status_code == 200, created.text
    session = created.json()["session"]
    assert session["join_code"] == "PARTY-1"
    assert session["host"]["id"] == host["X-Test-User"]
    assert session["host_provider"] == "spotify"

    guest = await make_user(client, anonymous=True)
    joined = await client.post(
        "/api/v1/sessions/join", json={"join_code": "party-1"}, headers=guest
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["participant_count"] == 2

    first = await client.post("/api/v1/songs/add", json=track(1), headers=guest)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "playing"  # autoplay
    second = (await client.post("/api/v1/songs/add", json=track(2), headers=guest)).json()
    third = (await client.post("/api/v1/songs/add", json=track(3), headers=host)).json()
    assert second["status"] == third["status"] == "queued"

    vote = await client.post(
        f"/api/v1/songs/{third['id'].upper()}/vote", json={"vote_value": 1}, headers=guest
    )
    assert vote.json() == {"ok": True, "total_votes": 1}

    current = (await client.get("/api/v1/sessions/current", headers=guest)).json()
    assert current["current_song"]["id"] == first.json()["id"]
    assert [s["id"] for s in current["queue"]] == [third["id"], second["id"]]
    assert current["my_votes"] == {third["id"]: 1}
    assert current["queue_total"] == 2

    skip = await client.patch(
        "/api/v1/sessions/control_session", json={"skip_current_track": True}, headers=host
    )
    assert skip.json() == {"ok": True}
    current = (await client.get("/api/v1/sessions/current", headers=host)).json()
    assert current["current_song"]["id"] == third["id"]
    assert current["last_skip_was_crowdsourced"] is False

    done = await client.post(
        "/api/v1/sessions/song_finished", json={"queued_song_id": third["id"]}, headers=host
    )
    assert done.json() == {"ok": True}
    again = await client.post(
        "/api/v1/sessions/song_finished", json={"queued_song_id": third["id"]}, headers=host
    )
    assert again.json() == {"ok": True}
    current = (await client.get("/api/v1/sessions/current", headers=host)).json()
    assert current["current_song"]["id"] == second["id"]  # advanced exactly once

    # Crowd skip: host + guest are the participants; both asking skips the song.
    r1 = (await client.post("/api/v1/sessions/request_skip", headers=guest)).json()
    assert r1 == {"ok": True, "skip_request_count": 1, "participant_count": 2, "skipped": False}
    r2 = (await client.post("/api/v1/sessions/request_skip", headers=host)).json()
    assert r2["skipped"] is True
    current = (await client.get("/api/v1/sessions/current", headers=host)).json()
    assert current["current_song"] is None
    assert current["last_skip_was_crowdsourced"] is True

    history = (await client.get(f"/api/v1/sessions/{session['id']}/history", headers=guest)).json()
    assert [(s["id"], s["status"]) for s in history["items"]] == [
        (second["id"], "skipped"),
        (third["id"], "played"),
        (first.json()["id"], "skipped"),
    ]
    assert history["total"] == 3

    ended = await client.post("/api/v1/sessions/end", headers=host)
    assert ended.json() == {"ok": True}
    gone = await client.get("/api/v1/sessions/current", headers=guest)
    assert gone.status_code == 404
    assert gone.json()["code"] == "no_active_session"
    # The code is free again.
    reuse = await client.post(
        "/api/v1/sessions/create", json={"join_code": "PARTY-1"}, headers=host
    )
    assert reuse.status_code == 200
