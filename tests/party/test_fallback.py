"""The fallback source (issue 19): the music keeps going when the queue runs dry."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import make_host, make_user, track

API = "/api/v1"
# Demo-catalog tracks by key; Q1..Q5 are Queen songs (the seed test relies on none of them).
TRACKS = ("F1", "F2", "F3", "F4", "F5")


def ref(key: str) -> dict[str, str]:
    item = track(key)
    return {"source": item["source"], "id": item["id"]}


async def party(client: httpx.AsyncClient, code: str) -> dict[str, str]:
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    return host


async def set_tracks(
    client: httpx.AsyncClient, host: dict[str, str], keys: tuple[str, ...]
) -> httpx.Response:
    body = {"kind": "tracks", "tracks": [ref(k) for k in keys]}
    return await client.put(f"{API}/sessions/current/fallback", json=body, headers=host)


async def current(client: httpx.AsyncClient, who: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"{API}/sessions/current", headers=who)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def finish(client: httpx.AsyncClient, host: dict[str, str]) -> None:
    now = (await current(client, host))["current_song"]
    body = {"queued_song_id": now["id"]} if now else {}
    response = await client.post(f"{API}/sessions/song_finished", json=body, headers=host)
    assert response.status_code == 200, response.text


def name(key: str) -> str:
    return str(track(key)["name"])


async def test_an_empty_party_plays_on_through_twenty_advances(client: httpx.AsyncClient) -> None:
    host = await party(client, "FALLBACK")
    response = await set_tracks(client, host, TRACKS)
    assert response.status_code == 200, response.text
    assert response.json()["track_count"] == 5
    state = await current(client, host)
    # Setting a source on an idle party starts the music; min_queue (3) songs wait or play.
    assert state["current_song"]["is_fallback"] is True
    assert state["queue_total"] == 2
    assert all(song["is_fallback"] for song in state["queue"])
    for _ in range(20):
        await finish(client, host)
        state = await current(client, host)
        assert state["current_song"] is not None
        assert state["queue_total"] == 2
    history = await client.get(
        f"{API}/sessions/{state['session']['id']}/history/export",
        params={"format": "json"},
        headers=host,
    )
    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert len(items) == 20
    assert all(item["is_fallback"] for item in items)
    played = [item["name"] for item in items]
    # Never a repeat until the source is used up: the source's order, round after round.
    assert played == [name(TRACKS[i % 5]) for i in range(20)]
    csv_file = await client.get(
        f"{API}/sessions/{state['session']['id']}/history/export",
        params={"format": "csv"},
        headers=host,
    )
    header, first = csv_file.text.splitlines()[:2]
    assert header.endswith(",votes,is_fallback") and first.endswith(",true")


async def test_rules_filter_fallback_tracks(client: httpx.AsyncClient) -> None:
    host = await party(client, "RULES-FB")
    # Bohemian Rhapsody (5:55) is too long, Rick Astley is blocked.
    changed = await client.patch(
        f"{API}/sessions/current/settings",
        json={"max_duration_seconds": 300, "blocked_artists": ["rick"], "no_repeat_minutes": 60},
        headers=host,
    )
    assert changed.status_code == 200, changed.text
    body = {
        "kind": "tracks",
        "tracks": [
            {"source": "local", "id": "local:rick-astley-never-gonna-give-you-up"},
            {"source": "local", "id": "local:queen-bohemian-rhapsody"},
            {"source": "local", "id": "local:queen-don-t-stop-me-now"},
            {"source": "local", "id": "local:queen-another-one-bites-the-dust"},
        ],
    }
    response = await client.put(f"{API}/sessions/current/fallback", json=body, headers=host)
    assert response.status_code == 200, response.text
    state = await current(client, host)
    assert state["current_song"]["song"]["name"] == "Don't Stop Me Now"
    assert [s["song"]["name"] for s in state["queue"]] == ["Another One Bites the Dust"]
    await finish(client, host)
    state = await current(client, host)
    assert state["current_song"]["song"]["name"] == "Another One Bites the Dust"
    # The round is over, and both allowed tracks played within the no-repeat window.
    assert state["queue_total"] == 0
    await finish(client, host)
    assert (await current(client, host))["current_song"] is None


async def test_an_upvoted_fallback_song_becomes_a_request(client: httpx.AsyncClient) -> None:
    host = await party(client, "UPVOTE-FB")
    guest = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "UPVOTE-FB"}, headers=guest)
    changed = await client.patch(
        f"{API}/sessions/current/settings", json={"min_queue": 4}, headers=host
    )
    assert changed.status_code == 200, changed.text
    assert (await set_tracks(client, host, TRACKS)).status_code == 200
    state = await current(client, guest)
    assert [s["song"]["name"] for s in state["queue"]] == [name(k) for k in TRACKS[1:4]]
    newest = state["queue"][-1]
    voted = await client.post(
        f"{API}/songs/{newest['id']}/vote", json={"vote_value": 1}, headers=guest
    )
    assert voted.status_code == 200, voted.text
    # A guest's own request at 0 comes before the fallback entries of 0, too.
    added = await client.post(f"{API}/songs/add", json=track("G1"), headers=guest)
    assert added.status_code == 200, added.text
    state = await current(client, guest)
    order = [(s["song"]["name"], s["is_fallback"]) for s in state["queue"]]
    assert order == [
        (name(TRACKS[3]), False),
        (name("G1"), False),
        (name(TRACKS[1]), True),
        (name(TRACKS[2]), True),
    ]


async def test_only_the_host_sets_the_source_and_members_see_it(
    client: httpx.AsyncClient,
) -> None:
    host = await party(client, "WHO-FB")
    guest = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "WHO-FB"}, headers=guest)
    assert (await client.get(f"{API}/sessions/current/fallback", headers=guest)).json() is None
    refused = await set_tracks(client, guest, TRACKS)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_host"
    assert (await set_tracks(client, host, TRACKS)).status_code == 200
    seen = (await client.get(f"{API}/sessions/current/fallback", headers=guest)).json()
    assert (seen["kind"], seen["track_count"], seen["used_count"]) == ("tracks", 5, 3)
    assert [t["name"] for t in seen["tracks"]] == [name(k) for k in TRACKS]
    assert (
        await client.delete(f"{API}/sessions/current/fallback", headers=guest)
    ).status_code == 403
    assert (
        await client.delete(f"{API}/sessions/current/fallback", headers=host)
    ).status_code == 204
    assert (await client.get(f"{API}/sessions/current/fallback", headers=guest)).json() is None
    # Without a source nothing fills: the two waiting songs play, then the party is quiet.
    for _ in range(3):
        await finish(client, host)
    assert (await current(client, host))["current_song"] is None


async def test_min_queue_zero_turns_autofill_off(client: httpx.AsyncClient) -> None:
    host = await party(client, "ZERO-FB")
    await client.patch(f"{API}/sessions/current/settings", json={"min_queue": 0}, headers=host)
    assert (await set_tracks(client, host, TRACKS)).status_code == 200
    state = await current(client, host)
    assert state["current_song"] is None and state["queue_total"] == 0


async def test_a_catalog_seed_fills_from_the_local_catalog(client: httpx.AsyncClient) -> None:
    host = await party(client, "SEED-FB")
    response = await client.put(
        f"{API}/sessions/current/fallback", json={"kind": "catalog", "seed": "queen"}, headers=host
    )
    assert response.status_code == 200, response.text
    assert response.json()["kind"] == "catalog"
    state = await current(client, host)
    playing = [state["current_song"], *state["queue"]]
    assert len(playing) == 3
    assert all("queen" in f"{s['song']['artists']} {s['song']['name']}".lower() for s in playing)


async def test_unknown_tracks_and_bad_bodies_are_refused(client: httpx.AsyncClient) -> None:
    host = await party(client, "BAD-FB")
    unknown = await client.put(
        f"{API}/sessions/current/fallback",
        json={"kind": "tracks", "tracks": [{"source": "local", "id": "local:no-such-song"}]},
        headers=host,
    )
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "track_not_found"
    empty = await client.put(
        f"{API}/sessions/current/fallback",
        json={"kind": "catalog", "seed": "zzqxv-nothing-matches"},
        headers=host,
    )
    assert empty.status_code == 422
    assert empty.json()["code"] == "fallback_empty"
    wrong = await client.put(
        f"{API}/sessions/current/fallback", json={"kind": "radio"}, headers=host
    )
    assert wrong.status_code == 422
    # The seed becomes the label members read: the text rule holds (a bidi override here
    # would reverse what follows it on every member's screen).
    spoofed = await client.put(
        f"{API}/sessions/current/fallback",
        json={"kind": "catalog", "seed": "queen\u202e"},
        headers=host,
    )
    assert spoofed.status_code == 422 and spoofed.json()["code"] == "validation_error"
    assert (await client.get(f"{API}/sessions/current/fallback", headers=host)).json() is None
    assert (await current(client, host))["current_song"] is None


async def test_a_guests_add_that_starts_an_idle_party_fills_from_the_source(
    client: httpx.AsyncClient,
) -> None:
    """The advance runs in the guest's request (autoplay): the fallback entries are still
    the host's, written past the guest's row-level security."""
    host = await party(client, "GUEST-FB")
    guest = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "GUEST-FB"}, headers=guest)
    settings = f"{API}/sessions/current/settings"
    await client.patch(settings, json={"no_repeat_minutes": 60}, headers=host)
    assert (await set_tracks(client, host, TRACKS[:2])).status_code == 200
    await finish(client, host)
    await finish(client, host)  # both played within the window: the party is quiet
    assert (await current(client, host))["current_song"] is None
    await client.patch(settings, json={"no_repeat_minutes": 0}, headers=host)
    added = await client.post(f"{API}/songs/add", json=track("GA1"), headers=guest)
    assert added.status_code == 200, added.text
    state = await current(client, guest)
    assert state["current_song"]["song"]["name"] == name("GA1")
    assert state["current_song"]["is_fallback"] is False
    queue = [(s["song"]["name"], s["is_fallback"], s["added_by"]["id"]) for s in state["queue"]]
    host_id = host["X-Test-User"]
    assert queue == [(name(TRACKS[0]), True, host_id), (name(TRACKS[1]), True, host_id)]
