"""Adding, voting and removing songs through the HTTP API."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.factories import make_host, make_user, track

API = "/api/v1"
# Every vote here runs through both of its paths on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.vote_twin


async def _party(client: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str], str]:
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": "SONGS"}, headers=host)
    guest = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "SONGS"}, headers=guest)
    return host, guest, created.json()["session"]["id"]


async def test_add_takes_the_track_from_the_catalog(client: httpx.AsyncClient) -> None:
    """Well-formed client text is accepted (a search result is sent as it came) but what is
    stored and shown is the catalog's record of (source, id)."""
    host, _, _ = await _party(client)
    real = track(1)
    body = track(1, name="  Café del Mar  ", image_url="", isrc="gbarl9300135", artists="Energy 52")
    response = await client.post(f"{API}/songs/add", json=body, headers=host)
    assert response.status_code == 200, response.text
    song = response.json()["song"]
    assert song == real
    queued = response.json()
    assert set(queued) == {
        "id",
        "status",
        "added_at",
        "votes",
        "song",
        "added_by",
        "last_entered_tier_at",
        "entered_tier_by_gain",
        "is_fallback",
    }
    assert queued["is_fallback"] is False
    assert queued["added_by"]["id"] == host["X-Test-User"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"image_url": "http://insecure.example.com/a.jpg"},
        {"image_url": "javascript:alert(1)"},
        {"duration_ms": -1},
        {"duration_ms": 3_600_001},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 501},
        {"name": "bad\u0000name"},
        {"artists": "bell\u0007"},
        {"source": "deezer"},
        {"isrc": "TOO-SHORT"},
        {"id": ""},
        {"extra_field": 1},
    ],
)
async def test_add_rejects_bad_tracks(client: httpx.AsyncClient, overrides: dict) -> None:
    host, _, _ = await _party(client)
    response = await client.post(f"{API}/songs/add", json=track(1, **overrides), headers=host)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["current_song"] is None  # nothing was stored


async def test_markup_sent_by_a_client_is_never_stored(client: httpx.AsyncClient) -> None:
    host, _, _ = await _party(client)
    name = '<img src=x onerror=alert(1)> & "quotes"'
    response = await client.post(f"{API}/songs/add", json=track(1, name=name), headers=host)
    assert response.json()["song"]["name"] == track(1)["name"]


async def test_re_adding_a_queued_track_is_an_upvote(client: httpx.AsyncClient) -> None:
    host, guest, _ = await _party(client)
    await client.post(f"{API}/songs/add", json=track(1), headers=host)  # plays
    first = (await client.post(f"{API}/songs/add", json=track(2), headers=host)).json()
    again = (await client.post(f"{API}/songs/add", json=track(2), headers=guest)).json()
    assert again["id"] == first["id"] and again["votes"] == 1
    twice = (await client.post(f"{API}/songs/add", json=track(2), headers=guest)).json()
    assert twice["votes"] == 1  # the same upvote again changes nothing
    current = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    assert current["queue_total"] == 1 and current["my_votes"] == {first["id"]: 1}


async def test_vote_change_and_withdraw(client: httpx.AsyncClient) -> None:
    host, guest, _ = await _party(client)
    await client.post(f"{API}/songs/add", json=track(1), headers=host)
    song = (await client.post(f"{API}/songs/add", json=track(2), headers=host)).json()
    url = f"{API}/songs/{song['id']}/vote"
    assert (await client.post(url, json={"vote_value": 1}, headers=guest)).json()[
        "total_votes"
    ] == 1
    assert (await client.post(url, json={"vote_value": -1}, headers=guest)).json()[
        "total_votes"
    ] == -1
    assert (await client.post(url, json={"vote_value": -1}, headers=host)).json()[
        "total_votes"
    ] == -2
    assert (await client.delete(url, headers=guest)).json() == {"ok": True, "total_votes": -1}
    assert (await client.delete(url, headers=guest)).json()["total_votes"] == -1
    for bad in ({"vote_value": 2}, {"vote_value": 0}, {"vote_value": "1"}, {}):
        response = await client.post(url, json=bad, headers=guest)
        assert response.status_code == 422, bad


async def test_votes_only_on_queued_songs_in_your_party(client: httpx.AsyncClient) -> None:
    host, guest, _ = await _party(client)
    playing = (await client.post(f"{API}/songs/add", json=track(1), headers=host)).json()
    response = await client.post(
        f"{API}/songs/{playing['id']}/vote", json={"vote_value": 1}, headers=guest
    )
    assert (response.status_code, response.json()["code"]) == (409, "song_not_votable")
    unknown = await client.post(
        f"{API}/songs/{uuid.uuid4()}/vote", json={"vote_value": 1}, headers=guest
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "song_not_found")
    # Another party's song looks absent: guessing ids gets 404, never a vote.
    other_host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "OTHER"}, headers=other_host)
    await client.post(f"{API}/songs/add", json=track(7), headers=other_host)
    theirs = (await client.post(f"{API}/songs/add", json=track(8), headers=other_host)).json()
    for method in ("POST", "DELETE"):
        response = await client.request(
            method,
            f"{API}/songs/{theirs['id']}/vote",
            json={"vote_value": 1} if method == "POST" else None,
            headers=guest,
        )
        assert response.status_code == 404
    removal = await client.delete(f"{API}/songs/{theirs['id']}", headers=host)
    assert removal.status_code == 404
    after = await client.get(f"{API}/sessions/{theirs['id']}/queue", headers=guest)
    assert after.status_code == 404


async def test_removal_rules(client: httpx.AsyncClient) -> None:
    host, guest, _ = await _party(client)
    await client.post(f"{API}/songs/add", json=track(1), headers=host)
    mine = (await client.post(f"{API}/songs/add", json=track(2), headers=guest)).json()
    hosts = (await client.post(f"{API}/songs/add", json=track(3), headers=host)).json()
    forbidden = await client.delete(f"{API}/songs/{hosts['id']}", headers=guest)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "not_allowed_to_remove")
    await client.post(f"{API}/songs/{mine['id']}/vote", json={"vote_value": 1}, headers=host)
    voted = await client.delete(f"{API}/songs/{mine['id']}", headers=guest)
    assert voted.status_code == 403
    await client.delete(f"{API}/songs/{mine['id']}/vote", headers=host)
    assert (await client.delete(f"{API}/songs/{mine['id']}", headers=guest)).json() == {"ok": True}
    assert (await client.delete(f"{API}/songs/{hosts['id']}", headers=host)).json() == {"ok": True}
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["queue_total"] == 0
    gone = await client.delete(f"{API}/songs/{hosts['id']}", headers=host)
    assert (gone.status_code, gone.json()["code"]) == (409, "song_not_removable")


@pytest.mark.parametrize("settings_overrides", [{"max_songs_per_guest": 2, "max_queue_length": 3}])
async def test_queue_caps(client: httpx.AsyncClient) -> None:
    host, guest, _ = await _party(client)
    await client.post(f"{API}/songs/add", json=track(0), headers=host)  # plays
    for n in (1, 2):
        assert (
            await client.post(f"{API}/songs/add", json=track(n), headers=guest)
        ).status_code == 200
    limited = await client.post(f"{API}/songs/add", json=track(3), headers=guest)
    assert (limited.status_code, limited.json()["code"]) == (409, "song_limit_reached")
    assert (await client.post(f"{API}/songs/add", json=track(4), headers=host)).status_code == 200
    full = await client.post(f"{API}/songs/add", json=track(5), headers=host)
    assert (full.status_code, full.json()["code"]) == (409, "queue_full")


async def test_adding_requires_a_party(client: httpx.AsyncClient) -> None:
    loner = await make_user(client, anonymous=True)
    response = await client.post(f"{API}/songs/add", json=track(1), headers=loner)
    assert (response.status_code, response.json()["code"]) == (404, "no_active_session")


async def test_one_party_cannot_rename_a_track_other_parties_queued(
    client: httpx.AsyncClient,
) -> None:
    host, _, _ = await _party(client)
    await client.post(f"{API}/songs/add", json=track(1), headers=host)
    original = (await client.post(f"{API}/songs/add", json=track(2), headers=host)).json()
    other = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "OTHER"}, headers=other)
    await client.post(
        f"{API}/songs/add", json=track(2, name="Renamed by someone else"), headers=other
    )
    mine = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert mine["queue"][0]["id"] == original["id"]
    assert mine["queue"][0]["song"]["name"] == track(2)["name"]
