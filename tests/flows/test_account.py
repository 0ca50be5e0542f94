"""DELETE /api/v1/users/me: votes, skip requests and profile go in one transaction, hosted
parties end, added songs stay attributed to a deleted user, and old tokens stop working."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from queueit.core.events import DomainEvent
from tests.factories import auth, make_host, make_user, token_for, track

ME = "/api/v1/users/me"
DELETED_USER_ID = "00000000-0000-0000-0000-000000000000"


async def current(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/sessions/current", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def start_party(client: httpx.AsyncClient) -> tuple[dict[str, str], str, str]:
    host = await make_host(client)
    created = await client.post("/api/v1/sessions/create", json={}, headers=host)
    assert created.status_code == 200, created.text
    session = created.json()["session"]
    return host, session["id"], session["join_code"]


async def join(client: httpx.AsyncClient, headers: dict[str, str], code: str) -> None:
    joined = await client.post("/api/v1/sessions/join", json={"join_code": code}, headers=headers)
    assert joined.status_code == 200, joined.text


async def add(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> str:
    added = await client.post("/api/v1/songs/add", json=track(n), headers=headers)
    assert added.status_code == 200, added.text
    song_id: str = added.json()["id"]
    return song_id


async def vote(client: httpx.AsyncClient, headers: dict[str, str], song_id: str, value: int) -> int:
    response = await client.post(
        f"/api/v1/songs/{song_id}/vote", json={"vote_value": value}, headers=headers
    )
    assert response.status_code == 200, response.text
    total: int = response.json()["total_votes"]
    return total


async def test_member_deletion_withdraws_votes_and_keeps_their_songs(
    client: httpx.AsyncClient,
) -> None:
    host, session_id, code = await start_party(client)
    sub = uuid.uuid4()
    leaver = auth(token_for(sub))
    assert (await client.patch(ME, json={"username": "leaver"}, headers=leaver)).status_code == 200
    stayer = await make_user(client, anonymous=True)
    await join(client, leaver, code)
    await join(client, stayer, code)

    await add(client, host, 1)  # starts playing
    hosts_song = await add(client, host, 2)
    leavers_song = await add(client, leaver, 3)
    assert await vote(client, leaver, hosts_song, 1) == 1
    assert await vote(client, stayer, hosts_song, 1) == 2
    assert await vote(client, leaver, leavers_song, 1) == 1
    skip = await client.post("/api/v1/sessions/request_skip", headers=leaver)
    assert skip.json()["skip_request_count"] == 1
    assert (await current(client, host))["participant_count"] == 3

    deleted = await client.delete(ME, headers=leaver)
    assert deleted.status_code == 204
    assert deleted.content == b""

    state = await current(client, host)
    votes = {song["id"]: song["votes"] for song in state["queue"]}
    assert votes == {hosts_song: 1, leavers_song: 0}  # the leaver's votes are gone
    assert state["skip_request_count"] == 0
    assert state["participant_count"] == 2
    leavers_entry = next(song for song in state["queue"] if song["id"] == leavers_song)
    assert leavers_entry["added_by"]["id"] == DELETED_USER_ID
    assert leavers_entry["added_by"]["username"] is None

    # Play through the queue: the deleted user's song ends up in history, still attributed.
    for _ in range(3):
        await client.patch(
            "/api/v1/sessions/control_session", json={"skip_current_track": True}, headers=host
        )
    history = await client.get(f"/api/v1/sessions/{session_id}/history", headers=stayer)
    assert history.status_code == 200
    added_by = {song["id"]: song["added_by"]["id"] for song in history.json()["items"]}
    assert added_by[leavers_song] == DELETED_USER_ID
    assert added_by[hosts_song] == host["X-Test-User"]

    # The username is free again.
    newcomer = await make_user(client)
    assert (
        await client.patch(ME, json={"username": "LEAVER"}, headers=newcomer)
    ).status_code == 200


async def test_old_token_is_refused_and_a_newer_one_starts_afresh(
    client: httpx.AsyncClient,
) -> None:
    sub = uuid.uuid4()
    old = auth(token_for(sub))
    await client.patch(ME, json={"username": "gone-soon", "music_provider": "apple"}, headers=old)
    assert (await client.delete(ME, headers=old)).status_code == 204

    for method, path in (
        ("GET", ME),
        ("PATCH", ME),
        ("DELETE", ME),
        ("POST", "/api/v1/sessions/join"),
    ):
        body = {"join_code": "ABCD"} if path.endswith("join") else {}
        again = await client.request(method, path, json=body, headers=old)
        assert again.status_code == 401, (method, path, again.text)
        assert again.json()["code"] == "account_deleted"

    # Signing in again after the deletion (a later iat) gives a brand-new profile.
    fresh = auth(token_for(sub, iat=int(time.time()) + 2))
    me = await client.get(ME, headers=fresh)
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": str(sub),
        "username": None,
        "display_name": None,
        "music_provider": "none",
        "storefront": "us",
        "is_anonymous": False,
    }
    no_party = await client.get("/api/v1/sessions/current", headers=fresh)
    assert no_party.status_code == 404


async def test_host_deletion_ends_the_party_for_everyone(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    received: list[DomainEvent] = []
    app.state.ctx.realtime.backplane.add_listener(lambda event, _ts: received.append(event))

    host, session_id, code = await start_party(client)
    member = await make_user(client)
    await join(client, member, code)
    await add(client, member, 1)
    queued = await add(client, member, 2)
    assert await vote(client, host, queued, 1) == 1

    assert (await client.delete(ME, headers=host)).status_code == 204

    gone = await client.get("/api/v1/sessions/current", headers=member)
    assert gone.status_code == 404
    assert gone.json()["code"] == "no_active_session"
    rejoin = await client.post("/api/v1/sessions/join", json={"join_code": code}, headers=member)
    assert rejoin.status_code == 404
    assert rejoin.json()["code"] == "session_not_found"
    ended = [e for e in received if e.name == "session.ended"]
    assert [str(e.party_id) for e in ended] == [session_id]
    assert ended[0].data["reason"] == "host_deleted"

    # The member's account is untouched, and the join code is free for a new party.
    assert (await client.get(ME, headers=member)).json()["id"] == member["X-Test-User"]
    other_host = await make_host(client)
    reuse = await client.post(
        "/api/v1/sessions/create", json={"join_code": code}, headers=other_host
    )
    assert reuse.status_code == 200, reuse.text


async def test_deleting_twice_in_a_row_is_refused(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    assert (await client.delete(ME, headers=user)).status_code == 204
    second = await client.delete(ME, headers=user)
    assert second.status_code == 401
    assert second.json()["code"] == "account_deleted"
