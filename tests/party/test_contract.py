"""Session endpoints: shapes, status codes and the envelope, as the iOS app relies on them."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.factories import make_host, make_user, track

API = "/api/v1"


async def _party(client: httpx.AsyncClient, code: str = "PARTY") -> tuple[dict[str, str], dict]:
    host = await make_host(client)
    response = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert response.status_code == 200, response.text
    return host, response.json()


async def test_create_returns_a_current_session(client: httpx.AsyncClient) -> None:
    _, body = await _party(client)
    assert set(body) == {
        "session",
        "current_song",
        "queue",
        "queue_total",
        "my_votes",
        "skip_request_count",
        "participant_count",
        "user_requested_skip",
        "last_skip_was_crowdsourced",
        "my_role",
    }
    assert set(body["session"]) == {
        "id",
        "join_code",
        "created_at",
        "host",
        "host_provider",
        "is_locked",
        "is_paused",
        "ended_at",
        "version",
        "settings",  # additive (party rules): the iOS app ignores keys it does not decode
        "co_hosts",  # additive (roles)
    }
    assert body["my_role"] == "host" and body["session"]["co_hosts"] == []
    assert body["session"]["host"]["role"] == "host"
    assert body["current_song"] is None and body["queue"] == [] and body["my_votes"] == {}
    assert body["participant_count"] == 1
    assert body["session"]["ended_at"] is None
    assert body["session"]["created_at"].endswith(("Z", "+00:00"))
    assert body["session"]["id"] == body["session"]["id"].lower()


async def test_generated_join_code_avoids_lookalikes(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    response = await client.post(f"{API}/sessions/create", headers=host)
    assert response.status_code == 200
    code = response.json()["session"]["join_code"]
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{6}", code)


@pytest.mark.parametrize("code", ["abc", "-ABCD", "ABCD-", "AB CD", "ÄBCD", "A" * 21, "AB_CD"])
async def test_bad_join_codes_are_422(client: httpx.AsyncClient, code: str) -> None:
    host = await make_host(client)
    response = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_guests_cannot_host_and_hosts_need_a_provider(client: httpx.AsyncClient) -> None:
    guest = await make_user(client, anonymous=True)
    response = await client.post(f"{API}/sessions/create", headers=guest)
    assert (response.status_code, response.json()["code"]) == (403, "guest_cannot_host")
    no_provider = await make_user(client, username=f"u-{uuid.uuid4().hex[:6]}")
    response = await client.post(f"{API}/sessions/create", headers=no_provider)
    assert (response.status_code, response.json()["code"]) == (400, "no_music_provider")


async def test_taken_code_is_409_and_join_is_case_insensitive(client: httpx.AsyncClient) -> None:
    await _party(client, "FRIDAY-NIGHT")
    other = await make_host(client)
    taken = await client.post(
        f"{API}/sessions/create", json={"join_code": "friday-night"}, headers=other
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "join_code_taken")
    guest = await make_user(client, anonymous=True)
    joined = await client.post(
        f"{API}/sessions/join", json={"join_code": " Friday-Night "}, headers=guest
    )
    assert joined.status_code == 200


async def test_join_unknown_or_ended_is_404(client: httpx.AsyncClient) -> None:
    guest = await make_user(client, anonymous=True)
    response = await client.post(f"{API}/sessions/join", json={"join_code": "NOPE"}, headers=guest)
    assert (response.status_code, response.json()["code"]) == (404, "session_not_found")
    host, _ = await _party(client, "ENDED")
    await client.post(f"{API}/sessions/end", headers=host)
    response = await client.post(f"{API}/sessions/join", json={"join_code": "ENDED"}, headers=guest)
    assert response.status_code == 404


async def test_current_without_a_party_is_404(client: httpx.AsyncClient) -> None:
    user = await make_user(client, anonymous=True)
    response = await client.get(f"{API}/sessions/current", headers=user)
    assert (response.status_code, response.json()["code"]) == (404, "no_active_session")


async def test_joining_another_party_leaves_the_first(client: httpx.AsyncClient) -> None:
    host_a, _ = await _party(client, "AAAA")
    _, party_b = await _party(client, "BBBB")
    guest = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "AAAA"}, headers=guest)
    assert (await client.get(f"{API}/sessions/current", headers=host_a)).json()[
        "participant_count"
    ] == 2
    await client.post(f"{API}/sessions/join", json={"join_code": "BBBB"}, headers=guest)
    assert (await client.get(f"{API}/sessions/current", headers=host_a)).json()[
        "participant_count"
    ] == 1
    current = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert current["session"]["id"] == party_b["session"]["id"]


async def test_leave_answers_ok_and_forgets_membership(client: httpx.AsyncClient) -> None:
    _, party = await _party(client)
    guest = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "PARTY"}, headers=guest)
    response = await client.post(f"{API}/sessions/leave", headers=guest)
    assert response.json() == {"ok": True}
    assert (await client.get(f"{API}/sessions/current", headers=guest)).status_code == 404
    queue = await client.get(f"{API}/sessions/{party['session']['id']}/queue", headers=guest)
    assert (queue.status_code, queue.json()["code"]) == (403, "not_member")
    # Leaving twice is fine.
    assert (await client.post(f"{API}/sessions/leave", headers=guest)).json() == {"ok": True}


async def test_host_controls_are_host_only(client: httpx.AsyncClient) -> None:
    host, _ = await _party(client)
    guest = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "PARTY"}, headers=guest)
    for method, path, body, code in [
        ("PATCH", "/sessions/control_session", {"is_locked": True}, "not_manager"),
        ("POST", "/sessions/song_finished", {}, "not_host"),
        ("POST", "/sessions/end", None, "not_host"),
    ]:
        response = await client.request(method, API + path, json=body, headers=guest)
        assert (response.status_code, response.json()["code"]) == (403, code), path
    outsider = await make_user(client, anonymous=True)
    response = await client.patch(
        f"{API}/sessions/control_session", json={"is_locked": True}, headers=outsider
    )
    assert (response.status_code, response.json()["code"]) == (404, "no_active_session")
    assert (await client.get(f"{API}/sessions/current", headers=host)).status_code == 200


async def test_lock_and_pause(client: httpx.AsyncClient) -> None:
    host, _ = await _party(client)
    guest = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "PARTY"}, headers=guest)
    response = await client.patch(
        f"{API}/sessions/control_session",
        json={"is_locked": True, "pause_playback": True},
        headers=host,
    )
    assert response.json() == {"ok": True}
    state = (await client.get(f"{API}/sessions/current", headers=guest)).json()["session"]
    assert state["is_locked"] is True and state["is_paused"] is True
    locked = await client.post(f"{API}/songs/add", json=track(1), headers=guest)
    assert (locked.status_code, locked.json()["code"]) == (409, "session_locked")
    assert (await client.post(f"{API}/songs/add", json=track(1), headers=host)).status_code == 200
    await client.patch(f"{API}/sessions/control_session", json={"is_locked": False}, headers=host)
    assert (await client.post(f"{API}/songs/add", json=track(2), headers=guest)).status_code == 200


async def test_queue_and_history_paging(client: httpx.AsyncClient) -> None:
    host, party = await _party(client)
    sid = party["session"]["id"]
    for n in range(6):
        await client.post(f"{API}/songs/add", json=track(n), headers=host)
    page = (
        await client.get(f"{API}/sessions/{sid.upper()}/queue?limit=2&offset=1", headers=host)
    ).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (5, 2, 1, 2)
    assert [i["song"]["id"] for i in page["items"]] == [track(2)["id"], track(3)["id"]]
    current = (await client.get(f"{API}/sessions/current?queue_limit=3", headers=host)).json()
    assert len(current["queue"]) == 3 and current["queue_total"] == 5
    bad = await client.get(f"{API}/sessions/current?queue_limit=501", headers=host)
    assert bad.status_code == 422
    await client.post(f"{API}/sessions/song_finished", json={}, headers=host)
    history = (await client.get(f"{API}/sessions/{sid}/history", headers=host)).json()
    assert [i["song"]["id"] for i in history["items"]] == [track(0)["id"]]
    missing = await client.get(f"{API}/sessions/{uuid.uuid4()}/queue", headers=host)
    assert missing.status_code == 404
    not_uuid = await client.get(f"{API}/sessions/not-a-uuid/queue", headers=host)
    assert (not_uuid.status_code, not_uuid.json()["code"]) == (404, "not_found")


async def test_skip_requests(client: httpx.AsyncClient) -> None:
    host, _ = await _party(client)
    guests = [await make_user(client, anonymous=True) for _ in range(3)]
    for guest in guests:
        await client.post(f"{API}/sessions/join", json={"join_code": "PARTY"}, headers=guest)
    nothing = await client.post(f"{API}/sessions/request_skip", headers=guests[0])
    assert (nothing.status_code, nothing.json()["code"]) == (409, "nothing_playing")
    await client.post(f"{API}/songs/add", json=track(1), headers=host)
    await client.post(f"{API}/songs/add", json=track(2), headers=host)
    first = (await client.post(f"{API}/sessions/request_skip", headers=guests[0])).json()
    assert first == {"ok": True, "skip_request_count": 1, "participant_count": 4, "skipped": False}
    repeat = (await client.post(f"{API}/sessions/request_skip", headers=guests[0])).json()
    assert repeat["skip_request_count"] == 1  # one request per user per song
    current = (await client.get(f"{API}/sessions/current", headers=guests[0])).json()
    assert current["user_requested_skip"] is True and current["skip_request_count"] == 1
    withdrawn = (await client.delete(f"{API}/sessions/request_skip", headers=guests[0])).json()
    assert withdrawn["skip_request_count"] == 0
    # Leaving withdraws a request too.
    await client.post(f"{API}/sessions/request_skip", headers=guests[1])
    await client.post(f"{API}/sessions/leave", headers=guests[1])
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["skip_request_count"] == 0 and current["participant_count"] == 3
    # 2 of 3 participants is more than half: skipped.
    await client.post(f"{API}/sessions/request_skip", headers=guests[0])
    crossed = (await client.post(f"{API}/sessions/request_skip", headers=guests[2])).json()
    assert crossed["skipped"] is True
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["current_song"]["song"]["id"] == track(2)["id"]
    assert current["skip_request_count"] == 0 and current["last_skip_was_crowdsourced"]


async def test_version_increases_with_each_change(client: httpx.AsyncClient) -> None:
    host, party = await _party(client)
    versions = [party["session"]["version"]]
    for n in range(3):
        await client.post(f"{API}/songs/add", json=track(n), headers=host)
        versions.append(
            (await client.get(f"{API}/sessions/current", headers=host)).json()["session"]["version"]
        )
    assert versions == sorted(set(versions))
    assert versions[-1] - versions[0] == 3
