"""Search results marked by the caller's party: `allowed`, `reason`, `already_queued` and
`my_vote`, from the same check the add makes (party/rules.py may_add)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import make_host, make_user
from tests.statements import statements_for

API = "/api/v1"

# Operator tracks next to the demo catalog: the demo catalog has no explicit track.
EXTRA_CATALOG = [
    {"id": "marks-explicit", "title": "Marks Rude Song", "artists": "Marks Band",
     "duration_ms": 180_000, "explicit": True},
    {"id": "marks-clean", "title": "Marks Clean Song", "artists": "Marks Band",
     "duration_ms": 180_000, "explicit": False},
    {"id": "marks-long", "title": "Marks Long Song", "artists": "Marks Band",
     "duration_ms": 420_000, "explicit": False},
]  # fmt: skip


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "marks-catalog.json"
    path.write_text(json.dumps(EXTRA_CATALOG), encoding="utf-8")
    return {"local_catalog_path": str(path)}


async def _party(client: httpx.AsyncClient, code: str = "MARKS") -> tuple[dict, dict]:
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    guest = await make_user(client, anonymous=True)
    joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    return host, guest


async def _rules(client: httpx.AsyncClient, host: dict, **rules: Any) -> None:
    response = await client.patch(f"{API}/sessions/current/settings", json=rules, headers=host)
    assert response.status_code == 200, response.text


async def _search(
    client: httpx.AsyncClient, headers: dict, q: str, limit: int = 10
) -> list[dict[str, Any]]:
    response = await client.get(
        f"{API}/catalog/search", params={"q": q, "limit": limit}, headers=headers
    )
    assert response.status_code == 200, response.text
    tracks: list[dict[str, Any]] = response.json()["tracks"]
    return tracks


def _named(tracks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(t for t in tracks if t["name"] == name)


async def test_a_blocked_artist_is_refused_with_the_reason(client: httpx.AsyncClient) -> None:
    host, guest = await _party(client)
    await _rules(client, host, blocked_artists=["queen"])

    tracks = await _search(client, guest, "queen")

    blocked = [t for t in tracks if "queen" in t["artists"].lower()]
    assert blocked
    for found in blocked:
        assert found["allowed"] is False
        assert found["reason"] == {
            "code": "track_blocked",
            "message": "The host has blocked this song or artist at this party.",
        }
    # The host is bound by the content rules they set too.
    host_view = _named(await _search(client, host, "bohemian rhapsody"), "Bohemian Rhapsody")
    assert host_view["reason"]["code"] == "track_blocked"
    # Another artist is untouched.
    other = await _search(client, guest, "billie jean", limit=1)
    assert other[0]["allowed"] is True and other[0]["reason"] is None


async def test_a_queued_track_is_marked_with_my_vote(client: httpx.AsyncClient) -> None:
    host, guest = await _party(client)
    playing = (await _search(client, host, "bohemian rhapsody", limit=1))[0]
    waiting = (await _search(client, host, "dont stop me now", limit=1))[0]
    assert (await client.post(f"{API}/songs/add", json=playing, headers=host)).status_code == 200
    added = await client.post(f"{API}/songs/add", json=waiting, headers=host)
    assert added.status_code == 200, added.text
    voted = await client.post(
        f"{API}/songs/{added.json()['id']}/vote", json={"vote_value": -1}, headers=guest
    )
    assert voted.status_code == 200, voted.text

    tracks = await _search(client, guest, "queen", limit=20)

    mine = _named(tracks, "Don't Stop Me Now")
    assert mine["already_queued"] is True and mine["my_vote"] == -1 and mine["allowed"] is True
    # Playing is not waiting: adding it again would queue it anew.
    now_playing = _named(tracks, "Bohemian Rhapsody")
    assert now_playing["already_queued"] is False and now_playing["my_vote"] is None
    # The host has not voted on the song they added.
    host_mark = _named(await _search(client, host, "queen", limit=20), "Don't Stop Me Now")
    assert host_mark["already_queued"] is True and host_mark["my_vote"] is None

    # Adding a waiting track again is an upvote: the mark follows.
    again = await client.post(f"{API}/songs/add", json=mine, headers=guest)
    assert again.status_code == 200, again.text
    assert _named(await _search(client, guest, "queen", limit=20), mine["name"])["my_vote"] == 1


async def test_content_rules_mark_the_right_results(client: httpx.AsyncClient) -> None:
    host, guest = await _party(client)
    await _rules(client, host, allow_explicit=False, max_duration_seconds=300)

    tracks = {t["name"]: t for t in await _search(client, guest, "marks")}

    assert tracks["Marks Rude Song"]["reason"]["code"] == "explicit_not_allowed"
    assert tracks["Marks Long Song"]["reason"] == {
        "code": "track_too_long",
        "message": "Songs may be at most 5:00 long here.",
    }
    assert tracks["Marks Clean Song"]["allowed"] is True
    assert tracks["Marks Clean Song"]["reason"] is None


async def test_a_guest_at_the_cap_sees_song_limit_reached(client: httpx.AsyncClient) -> None:
    host, guest = await _party(client)
    await _rules(client, host, max_songs_per_guest=1)
    first = (await _search(client, host, "billie jean", limit=1))[0]
    assert (await client.post(f"{API}/songs/add", json=first, headers=host)).status_code == 200
    before = (await _search(client, guest, "marks clean", limit=1))[0]
    assert before["allowed"] is True
    assert (await client.post(f"{API}/songs/add", json=before, headers=guest)).status_code == 200

    tracks = {t["name"]: t for t in await _search(client, guest, "marks")}

    assert tracks["Marks Long Song"]["reason"] == {
        "code": "song_limit_reached",
        "message": "A guest may have 1 songs waiting at once.",
    }
    # Their own waiting song may still be "added" again: that is an upvote, not a new song.
    assert tracks["Marks Clean Song"]["already_queued"] is True
    assert tracks["Marks Clean Song"]["allowed"] is True
    # The host has no cap.
    host_tracks = {t["name"]: t for t in await _search(client, host, "marks")}
    assert host_tracks["Marks Long Song"]["allowed"] is True


async def test_host_only_marks_guests_results_not_the_hosts(client: httpx.AsyncClient) -> None:
    host, guest = await _party(client)
    await _rules(client, host, who_may_add="host_only")

    guest_tracks = await _search(client, guest, "queen")
    host_tracks = await _search(client, host, "queen")

    assert {t["reason"]["code"] for t in guest_tracks} == {"host_only_adds"}
    assert all(t["allowed"] for t in host_tracks)
    assert all(t["reason"] is None for t in host_tracks)


async def test_outside_a_party_the_marks_are_neutral(client: httpx.AsyncClient) -> None:
    loner = await make_user(client, anonymous=True)
    host, guest = await _party(client)
    await _rules(client, host, blocked_artists=["queen"])
    left = await client.post(f"{API}/sessions/leave", headers=guest)
    assert left.status_code == 200, left.text

    for headers in (loner, guest):
        for path in ("/catalog/search", "/spotify/search"):
            response = await client.get(f"{API}{path}", params={"q": "queen"}, headers=headers)
            assert response.status_code == 200, response.text
            tracks = response.json()["tracks"]
            assert tracks
            for found in tracks:
                assert found["allowed"] is True
                assert found["reason"] is None
                assert found["already_queued"] is False
                assert found["my_vote"] is None


async def test_the_ios_search_route_carries_the_marks(client: httpx.AsyncClient) -> None:
    host, guest = await _party(client)
    await _rules(client, host, blocked_artists=["queen"])

    response = await client.get(f"{API}/spotify/search", params={"q": "queen"}, headers=guest)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"tracks"}
    queen = [t for t in body["tracks"] if "Queen" in t["artists"]]
    assert queen and all(t["reason"]["code"] == "track_blocked" for t in queen)


@pytest.mark.parametrize(
    ("rules", "query"),
    [
        ({"blocked_artists": ["queen"]}, "bohemian rhapsody"),
        ({"blocked_tracks": ["clean"]}, "marks clean"),
        ({"allow_explicit": False}, "marks rude"),
        ({"min_duration_seconds": 400}, "marks clean"),
        ({"max_duration_seconds": 200}, "marks long"),
        ({"who_may_add": "host_only"}, "marks clean"),
        ({"max_songs_per_guest": 1}, "marks long"),
        ({"add_cooldown_seconds": 600}, "marks long"),
        ({}, "marks long"),  # allowed: the add succeeds
    ],
)
async def test_the_mark_agrees_with_the_add(
    client: httpx.AsyncClient, rules: dict[str, Any], query: str
) -> None:
    """Whatever the rule, the search's verdict is what `POST /songs/add` then answers."""
    host, guest = await _party(client)
    first = (await _search(client, host, "billie jean", limit=1))[0]
    assert (await client.post(f"{API}/songs/add", json=first, headers=host)).status_code == 200
    earlier = (await _search(client, guest, "beat it", limit=1))[0]
    assert (await client.post(f"{API}/songs/add", json=earlier, headers=guest)).status_code == 200
    if rules:
        await _rules(client, host, **rules)

    found = (await _search(client, guest, query, limit=1))[0]
    added = await client.post(f"{API}/songs/add", json=found, headers=guest)

    if found["allowed"]:
        assert not rules
        assert added.status_code == 200, added.text
    else:
        assert rules
        assert added.status_code >= 400
        assert added.json()["code"] == found["reason"]["code"]
        assert added.json()["detail"] == found["reason"]["message"]


async def test_a_locked_queue_is_marked_for_guests(client: httpx.AsyncClient) -> None:
    host, guest = await _party(client)
    locked = await client.patch(
        f"{API}/sessions/control_session", json={"is_locked": True}, headers=host
    )
    assert locked.status_code == 200, locked.text

    found = (await _search(client, guest, "marks clean", limit=1))[0]
    added = await client.post(f"{API}/songs/add", json=found, headers=guest)

    assert found["reason"]["code"] == "session_locked"
    assert added.json()["code"] == "session_locked"
    assert (await _search(client, host, "marks clean", limit=1))[0]["allowed"] is True


async def test_a_waiting_track_that_played_lately_is_still_an_upvote(
    client: httpx.AsyncClient,
) -> None:
    """No-repeat is about new songs: a track waiting again (queued before the rule) may be
    "added" (upvoted) like any waiting track, and its mark says so."""
    host, guest = await _party(client)
    replay = (await _search(client, host, "marks clean", limit=1))[0]
    other = (await _search(client, host, "billie jean", limit=1))[0]
    for found in (replay, other):  # the first plays, the second waits
        assert (await client.post(f"{API}/songs/add", json=found, headers=host)).status_code == 200
    skipped = await client.patch(
        f"{API}/sessions/control_session", json={"skip_current_track": True}, headers=host
    )
    assert skipped.status_code == 200, skipped.text
    assert (await client.post(f"{API}/songs/add", json=replay, headers=host)).status_code == 200
    await _rules(client, host, no_repeat_minutes=30)

    waiting = (await _search(client, guest, "marks clean", limit=1))[0]
    upvoted = await client.post(f"{API}/songs/add", json=waiting, headers=guest)

    assert waiting["already_queued"] is True
    assert waiting["allowed"] is True, waiting["reason"]
    assert upvoted.status_code == 200, upvoted.text
    # The one playing now is not waiting: adding it would be a new song, refused.
    playing = (await _search(client, guest, "billie jean", limit=1))[0]
    assert playing["already_queued"] is False
    assert playing["reason"]["code"] == "recently_played"


@pytest.mark.parametrize("rules", [{"who_may_add": "host_only"}, {"max_songs_per_guest": 1}])
async def test_a_co_host_is_marked_as_they_add(
    client: httpx.AsyncClient, rules: dict[str, Any]
) -> None:
    """A co-host adds like a guest (DOMAIN.md "Roles"): their marks say the same."""
    host, co_host = await _party(client)
    party_id = (await client.get(f"{API}/sessions/current", headers=host)).json()["session"]["id"]
    granted = await client.post(
        f"{API}/sessions/{party_id}/members/{co_host['X-Test-User']}/co-host", headers=host
    )
    assert granted.status_code == 200, granted.text
    first = (await _search(client, host, "billie jean", limit=1))[0]
    assert (await client.post(f"{API}/songs/add", json=first, headers=host)).status_code == 200
    earlier = (await _search(client, co_host, "beat it", limit=1))[0]
    assert earlier["allowed"] is True
    assert (await client.post(f"{API}/songs/add", json=earlier, headers=co_host)).is_success
    await _rules(client, host, **rules)

    found = (await _search(client, co_host, "marks long", limit=1))[0]
    added = await client.post(f"{API}/songs/add", json=found, headers=co_host)

    assert found["allowed"] is False
    assert added.json()["code"] == found["reason"]["code"]


async def _statements_for_search(
    app: FastAPI, client: httpx.AsyncClient, headers: dict, limit: int
) -> int:
    statements, response = await statements_for(
        app,
        client,
        "GET",
        f"{API}/catalog/search",
        params={"q": "the", "limit": limit},
        headers=headers,
    )
    assert response.status_code == 200
    assert len(response.json()["tracks"]) == limit
    return statements


async def test_marking_costs_the_same_statements_for_2_or_50_results(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    host, guest = await _party(client)
    await _rules(client, host, add_cooldown_seconds=5, no_repeat_minutes=30)
    for query in ("billie jean", "the beatles", "the rolling stones"):
        found = (await _search(client, host, query, limit=1))[0]
        assert (await client.post(f"{API}/songs/add", json=found, headers=host)).status_code == 200

    small = await _statements_for_search(app, client, guest, 2)
    large = await _statements_for_search(app, client, guest, 50)

    assert small == large
    assert small <= 12


async def test_the_marks_are_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    marked = schema["components"]["schemas"]["MarkedTrack"]
    assert {"allowed", "reason", "already_queued", "my_vote", "id", "source"} <= set(
        marked["properties"]
    )
    for path in ("/api/v1/catalog/search", "/api/v1/spotify/search"):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        answered = ok["schema"]["$ref"].rsplit("/", 1)[-1]
        tracks = schema["components"]["schemas"][answered]["properties"]["tracks"]
        assert tracks["items"]["$ref"].endswith("/MarkedTrack")
