"""Party rules (issue 18): the host's settings, and the add rules the server enforces on the
catalog's record of a track, through the HTTP API on both databases."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.factories import make_host, make_user, track

API = "/api/v1"

QUEEN = "local:queen-bohemian-rhapsody"  # Queen, 355 s
BEATLES_YESTERDAY = "local:the-beatles-yesterday"  # The Beatles, 125 s
RICK = "local:rick-astley-never-gonna-give-you-up"  # ISRC GBARL9300135, 213 s


def local(track_id: str) -> dict[str, str]:
    return {"source": "local", "id": track_id}


async def party(
    client: httpx.AsyncClient, guests: int = 1
) -> tuple[dict[str, str], list[dict[str, str]], str]:
    host = await make_host(client)
    code = "R" + uuid.uuid4().hex[:6].upper()
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    members = []
    for _ in range(guests):
        guest = await make_user(client, anonymous=True)
        joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
        assert joined.status_code == 200, joined.text
        members.append(guest)
    return host, members, created.json()["session"]["id"]


async def set_rules(client: httpx.AsyncClient, host: dict[str, str], **rules: Any) -> Any:
    response = await client.patch(f"{API}/sessions/current/settings", json=rules, headers=host)
    assert response.status_code == 200, response.text
    return response.json()


async def add(client: httpx.AsyncClient, who: dict[str, str], body: dict[str, Any]) -> Any:
    return await client.post(f"{API}/songs/add", json=body, headers=who)


async def queue_ids(client: httpx.AsyncClient, who: dict[str, str]) -> list[str]:
    current = (await client.get(f"{API}/sessions/current", headers=who)).json()
    playing = [current["current_song"]["song"]["id"]] if current["current_song"] else []
    return playing + [q["song"]["id"] for q in current["queue"]]


# Settings: read, change, validate, host only.


async def test_defaults_keep_todays_behaviour(client: httpx.AsyncClient) -> None:
    _, [guest], _ = await party(client)
    settings = (await client.get(f"{API}/sessions/current/settings", headers=guest)).json()
    assert settings["max_songs_per_guest"] is None and settings["vote_mode"] == "up_down"
    assert settings["who_may_add"] == "everyone" and settings["allow_explicit"] is True
    snapshot = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert snapshot["session"]["settings"] == settings


async def test_the_host_changes_only_the_fields_named(client: httpx.AsyncClient) -> None:
    host, [guest], _ = await party(client)
    before = (await client.get(f"{API}/sessions/current", headers=host)).json()
    first = await set_rules(client, host, max_songs_per_guest=3, blocked_artists=["Nickelback"])
    second = await set_rules(client, host, allow_explicit=False)
    assert second["max_songs_per_guest"] == 3 and second["blocked_artists"] == ["Nickelback"]
    assert second["allow_explicit"] is False and first["allow_explicit"] is True
    after = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert after["session"]["settings"] == second
    assert after["session"]["version"] == before["session"]["version"] + 2
    # The same values again change nothing: no new version.
    await set_rules(client, host, allow_explicit=False)
    again = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert again["session"]["version"] == after["session"]["version"]


async def test_a_guest_cannot_change_the_rules(client: httpx.AsyncClient) -> None:
    host, [guest], _ = await party(client)
    response = await client.patch(
        f"{API}/sessions/current/settings", json={"who_may_add": "everyone"}, headers=guest
    )
    assert response.status_code == 403 and response.json()["code"] == "not_host"
    settings = (await client.get(f"{API}/sessions/current/settings", headers=host)).json()
    assert settings["who_may_add"] == "everyone"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"min_duration_seconds": 300, "max_duration_seconds": 200}, "settings_invalid"),
        ({"max_songs_per_guest": 0}, "validation_error"),
        ({"vote_mode": "sideways"}, "validation_error"),
        ({"blocked_artists": ["ok", ""]}, "validation_error"),
        ({"blocked_artists": ["bad\u202ename"]}, "validation_error"),
        ({"blocked_artists": ["x"] * 201}, "validation_error"),
        ({"no_such_rule": True}, "validation_error"),
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    host, _, _ = await party(client, guests=0)
    response = await client.patch(f"{API}/sessions/current/settings", json=body, headers=host)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    settings = (await client.get(f"{API}/sessions/current/settings", headers=host)).json()
    assert settings["min_duration_seconds"] is None and settings["blocked_artists"] == []


async def test_a_min_above_the_stored_max_is_refused(client: httpx.AsyncClient) -> None:
    host, _, _ = await party(client, guests=0)
    await set_rules(client, host, max_duration_seconds=200)
    response = await client.patch(
        f"{API}/sessions/current/settings", json={"min_duration_seconds": 201}, headers=host
    )
    assert response.json()["code"] == "settings_invalid"


# The add rules.


async def test_the_hosts_cap_per_guest_replaces_the_servers(client: httpx.AsyncClient) -> None:
    host, [guest], _ = await party(client)
    await set_rules(client, host, max_songs_per_guest=2)
    assert (await add(client, host, track(0))).status_code == 200  # plays at once
    assert (await add(client, guest, track(1))).status_code == 200
    assert (await add(client, guest, track(2))).status_code == 200
    refused = await add(client, guest, track(3))
    assert refused.status_code == 409 and refused.json()["code"] == "song_limit_reached"
    assert "2 songs" in refused.json()["detail"]
    assert (await add(client, host, track(4))).status_code == 200  # the host is not capped
    # Re-adding a waiting song is an upvote, not a new song: allowed at the cap.
    again = await add(client, guest, track(1))
    assert again.status_code == 200 and again.json()["votes"] == 1


async def test_a_concurrent_burst_cannot_exceed_the_cap(client: httpx.AsyncClient) -> None:
    host, [guest], _ = await party(client)
    await set_rules(client, host, max_songs_per_guest=3)
    await add(client, host, track(0))
    responses = await asyncio.gather(*(add(client, guest, track(n)) for n in range(1, 13)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 3 + [409] * 9, [r.text for r in responses if r.status_code >= 500]
    current = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    mine = [q for q in current["queue"] if q["added_by"]["id"] == guest["X-Test-User"]]
    assert len(mine) == 3


async def test_only_the_host_adds_when_the_host_says_so(client: httpx.AsyncClient) -> None:
    host, [guest], _ = await party(client)
    await set_rules(client, host, who_may_add="host_only")
    refused = await add(client, guest, track(1))
    assert refused.status_code == 403 and refused.json()["code"] == "host_only_adds"
    assert (await add(client, host, track(1))).status_code == 200
    assert await queue_ids(client, guest) == [track(1)["id"]]


async def test_a_guest_waits_out_the_cooldown(client: httpx.AsyncClient) -> None:
    host, [guest], _ = await party(client)
    await set_rules(client, host, add_cooldown_seconds=1)
    assert (await add(client, guest, track(1))).status_code == 200
    refused = await add(client, guest, track(2))
    assert refused.status_code == 429 and refused.json()["code"] == "add_cooldown"
    assert refused.headers["Retry-After"] == "1"
    assert (await add(client, host, track(3))).status_code == 200  # the host has no cooldown
    await asyncio.sleep(1.05)
    assert (await add(client, guest, track(2))).status_code == 200


async def test_length_rules_use_the_catalogs_duration(client: httpx.AsyncClient) -> None:
    host, [guest], _ = await party(client)
    await set_rules(client, host, min_duration_seconds=130, max_duration_seconds=300)
    # The client claims a fitting length; the catalog says 355 s and 125 s.
    too_long = await add(client, guest, {**local(QUEEN), "duration_ms": 200_000})
    assert too_long.status_code == 422 and too_long.json()["code"] == "track_too_long"
    assert "5:00" in too_long.json()["detail"]
    too_short = await add(client, host, {**local(BEATLES_YESTERDAY), "duration_ms": 200_000})
    assert too_short.status_code == 422 and too_short.json()["code"] == "track_too_short"
    assert (await add(client, guest, local(RICK))).status_code == 200
    assert await queue_ids(client, host) == [RICK]


@pytest.mark.parametrize(
    ("rule", "body"),
    [
        ({"blocked_artists": ["QUEEN"]}, local(QUEEN)),
        ({"blocked_artists": ["bowie"]}, local("local:queen-under-pressure")),  # Queen & Bowie
        ({"blocked_tracks": ["rhapsody"]}, local(QUEEN)),
        ({"blocked_isrcs": ["gbarl9300135"]}, local(RICK)),
    ],
)
async def test_the_blocklist_holds_whatever_the_client_says(
    client: httpx.AsyncClient, rule: dict[str, Any], body: dict[str, Any]
) -> None:
    host, [guest], _ = await party(client)
    await set_rules(client, host, **rule)
    # The client's text is innocent; the catalog's record is what the rule reads.
    forged = {**body, "name": "Innocent", "artists": "Nobody", "isrc": "USABC1234567"}
    refused = await add(client, guest, forged)
    assert refused.status_code == 422 and refused.json()["code"] == "track_blocked"
    assert (await add(client, host, body)).json()["code"] == "track_blocked"  # the host too
    assert (await add(client, guest, local(BEATLES_YESTERDAY))).status_code == 200
    assert await queue_ids(client, host) == [BEATLES_YESTERDAY]


async def test_a_song_played_lately_cannot_come_back(client: httpx.AsyncClient) -> None:
    host, [guest], _ = await party(client)
    await set_rules(client, host, no_repeat_minutes=30)
    assert (await add(client, guest, local(RICK))).json()["status"] == "playing"
    playing = await add(client, guest, local(RICK))
    assert playing.status_code == 409 and playing.json()["code"] == "recently_played"
    finished = await client.post(f"{API}/sessions/song_finished", json={}, headers=host)
    assert finished.status_code == 200
    again = await add(client, host, local(RICK))
    assert again.json()["code"] == "recently_played" and "30 minutes" in again.json()["detail"]
    await set_rules(client, host, no_repeat_minutes=0)
    assert (await add(client, guest, local(RICK))).status_code == 200


async def test_a_locked_party_refuses_guests_before_anything_is_stored(
    client: httpx.AsyncClient,
) -> None:
    host, [guest], _ = await party(client)
    locked = await client.patch(
        f"{API}/sessions/control_session", json={"is_locked": True}, headers=host
    )
    assert locked.status_code == 200
    refused = await add(client, guest, track(5))
    assert refused.status_code == 409 and refused.json()["code"] == "session_locked"
    assert await queue_ids(client, host) == []


# Fair play: the second ordering rule.


async def test_fair_play_takes_turns_within_a_vote_total(client: httpx.AsyncClient) -> None:
    host, [ann, bob, cem], _ = await party(client, guests=3)
    assert (await add(client, host, track(0))).json()["status"] == "playing"
    for n in (1, 2, 3):
        assert (await add(client, ann, track(n))).status_code == 200
    await add(client, bob, track(4))
    await add(client, cem, track(5))
    plain = await queue_ids(client, host)
    assert plain[1:] == [track(n)["id"] for n in (1, 2, 3, 4, 5)]
    await set_rules(client, host, fair_play=True)
    fair = await queue_ids(client, host)
    # Everyone's first song, then Ann's second, then her third.
    assert fair[1:] == [track(n)["id"] for n in (1, 4, 5, 2, 3)]
    # Votes still decide first: an upvoted song of Ann's third turn leads; once it plays,
    # Ann has had a song, so Bob and Cem go before her next one.
    third = (await client.get(f"{API}/sessions/current", headers=bob)).json()["queue"][-1]
    voted = await client.post(
        f"{API}/songs/{third['id']}/vote", json={"vote_value": 1}, headers=bob
    )
    assert voted.status_code == 200
    assert (await queue_ids(client, host))[1:] == [track(n)["id"] for n in (3, 1, 4, 5, 2)]
    played = []
    for _ in range(5):
        finished = await client.post(f"{API}/sessions/song_finished", json={}, headers=host)
        assert finished.status_code == 200
        current = (await client.get(f"{API}/sessions/current", headers=host)).json()
        played.append(current["current_song"]["song"]["id"])
    assert played == [track(n)["id"] for n in (3, 4, 5, 1, 2)]
