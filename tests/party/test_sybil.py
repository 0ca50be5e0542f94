"""Sybil guests (issue 16, item 2): one address with many accounts cannot force or block a
crowd skip, put a song first, or fill the queue; a real crowd still skips, a newcomer still
joins in one step, and the host can take one guest's flood out at once.

The client address is the trusted proxy's X-Forwarded-For (the test client's peer,
127.0.0.1, is a trusted proxy in these settings)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from queueit.core.types import UTCDateTime, utcnow
from tests.conftest import asyncpg_url
from tests.factories import make_host, make_user, track

API = "/api/v1"
# Every vote here runs through both of its paths on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.vote_twin
SYBIL_ADDRESS = "203.0.113.66"
# The shipped defaults of the Sybil rules (tests/conftest.py relaxes them for other tests).
BASE: dict[str, Any] = {
    "trusted_proxies": ["127.0.0.1/32"],
    "established_member_seconds": 60,
    "members_counted_per_address": 2,
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(BASE)


def at(headers: dict[str, str], address: str) -> dict[str, str]:
    return {**headers, "X-Forwarded-For": address}


def real_address(n: int) -> str:
    return f"198.51.100.{n + 1}"


async def _engine_run(database_url: str, sql: str, bind: Any = None) -> list[Any]:
    """Run SQL as the login role (past the API: the database's own view of the rows)."""
    url = asyncpg_url(database_url) if database_url.startswith("postgresql") else database_url
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            statement = text(sql).bindparams(bind) if bind is not None else text(sql)
            result = await conn.execute(statement)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def age_members(database_url: str, seconds: int = 120) -> None:
    """Everyone now in a party joined `seconds` ago (as if they had waited to be counted)."""
    when = bindparam("when", utcnow() - timedelta(seconds=seconds), type_=UTCDateTime())
    await _engine_run(
        database_url,
        "UPDATE users SET joined_at = :when WHERE current_session_id IS NOT NULL",
        bind=when,
    )


async def _join(client: httpx.AsyncClient, code: str, address: str) -> dict[str, str]:
    guest = await make_user(client, anonymous=True)
    joined = await client.post(
        f"{API}/sessions/join", json={"join_code": code}, headers=at(guest, address)
    )
    assert joined.status_code == 200, joined.text
    return guest


async def _party(
    client: httpx.AsyncClient, code: str, *, real: int, sybils: int
) -> tuple[dict[str, str], list[dict[str, str]], list[dict[str, str]]]:
    host = await make_host(client)
    created = await client.post(
        f"{API}/sessions/create", json={"join_code": code}, headers=at(host, "192.0.2.1")
    )
    assert created.status_code == 200, created.text
    guests = [await _join(client, code, real_address(n)) for n in range(real)]
    fakes = [await _join(client, code, SYBIL_ADDRESS) for _ in range(sybils)]
    return host, guests, fakes


async def _now_playing(client: httpx.AsyncClient, host: dict[str, str]) -> str:
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    return str(current["current_song"]["id"])


async def _skip(client: httpx.AsyncClient, user: dict[str, str]) -> dict[str, Any]:
    response = await client.post(f"{API}/sessions/request_skip", headers=user)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_twelve_sybils_of_one_address_cannot_force_a_skip(
    client: httpx.AsyncClient, database_url: str
) -> None:
    host, guests, fakes = await _party(client, "SYBIL", real=2, sybils=12)
    for n in range(2):
        await client.post(f"{API}/songs/add", json=track(n), headers=host)
    playing = await _now_playing(client, host)
    await age_members(database_url)  # the worst case: the script waited to be established
    answers = [await _skip(client, fake) for fake in fakes]
    assert not any(answer["skipped"] for answer in answers)
    # 12 accounts of one address count as 2 participants and 2 requests: host + 2 real + 2.
    assert answers[-1]["participant_count"] == 5
    assert answers[-1]["skip_request_count"] == 2
    assert await _now_playing(client, host) == playing
    current = (await client.get(f"{API}/sessions/current", headers=guests[0])).json()
    assert current["participant_count"] == 5 and current["skip_request_count"] == 2


async def test_a_burst_of_fresh_guests_neither_forces_nor_blocks_a_skip(
    client: httpx.AsyncClient, database_url: str
) -> None:
    host, guests, _ = await _party(client, "BURST", real=2, sybils=0)
    for n in range(2):
        await client.post(f"{API}/songs/add", json=track(n), headers=host)
    await age_members(database_url)  # the real guests have been here a while
    # Twelve fresh accounts, even from twelve different addresses, do not count yet.
    fresh = [await _join(client, "BURST", f"203.0.113.{n + 1}") for n in range(12)]
    answers = [await _skip(client, guest) for guest in fresh]
    assert not any(answer["skipped"] for answer in answers)
    assert answers[-1]["skip_request_count"] == 0 and answers[-1]["participant_count"] == 3
    # ... so they do not inflate the threshold either: the two real guests are a majority.
    assert (await _skip(client, guests[0]))["skipped"] is False
    assert (await _skip(client, guests[1]))["skipped"] is True


async def test_a_real_crowd_of_ten_skips_a_song(
    client: httpx.AsyncClient, database_url: str
) -> None:
    host, guests, _ = await _party(client, "CROWD", real=10, sybils=0)
    for n in range(2):
        await client.post(f"{API}/songs/add", json=track(n), headers=host)
    playing = await _now_playing(client, host)
    await age_members(database_url)
    answers = [await _skip(client, guest) for guest in guests[:6]]
    assert [a["skipped"] for a in answers] == [False] * 5 + [True]
    assert answers[0]["participant_count"] == 11
    assert await _now_playing(client, host) != playing
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert current["last_skip_was_crowdsourced"] is True


async def test_a_house_party_on_the_hosts_wifi_counts_everyone(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A cloud server sees one address for a whole house party on the host's Wi-Fi: guests
    on the host's network count person by person (votes, participants, skip requests)."""
    host, _, _ = await _party(client, "HOUSE", real=0, sybils=0)
    guests = [await _join(client, "HOUSE", "192.0.2.1") for _ in range(10)]
    await client.post(f"{API}/songs/add", json=track(0), headers=host)  # plays
    song = (await client.post(f"{API}/songs/add", json=track(1), headers=guests[0])).json()
    for guest in guests[1:]:
        voted = await client.post(
            f"{API}/songs/{song['id']}/vote", json={"vote_value": 1}, headers=guest
        )
        assert voted.status_code == 200, voted.text
    assert voted.json()["total_votes"] == 9  # nine guests of one address, none capped
    playing = await _now_playing(client, host)
    await age_members(database_url)
    answers = [await _skip(client, guest) for guest in guests[:6]]
    assert answers[0]["participant_count"] == 11
    assert [a["skipped"] for a in answers] == [False] * 5 + [True]
    assert await _now_playing(client, host) != playing


async def test_ten_fake_upvotes_from_one_address_do_not_put_a_song_first(
    client: httpx.AsyncClient,
) -> None:
    host, guests, fakes = await _party(client, "VOTES", real=2, sybils=11)
    await client.post(f"{API}/songs/add", json=track(0), headers=host)  # plays
    honest = (await client.post(f"{API}/songs/add", json=track(1), headers=guests[0])).json()
    for voter in (host, *guests):
        voted = await client.post(
            f"{API}/songs/{honest['id']}/vote", json={"vote_value": 1}, headers=voter
        )
        assert voted.status_code == 200
    forced = (await client.post(f"{API}/songs/add", json=track(2), headers=fakes[0])).json()
    statuses = []
    for fake in fakes[1:]:
        response = await client.post(
            f"{API}/songs/{forced['id']}/vote", json={"vote_value": 1}, headers=fake
        )
        statuses.append(response.status_code)
        if response.status_code == 409:
            body = response.json()
            assert body["code"] == "address_vote_limit" and body["request_id"]
    assert statuses == [200, 200] + [409] * 8
    # Re-adding the same track is an upvote too, and capped the same way.
    again = await client.post(f"{API}/songs/add", json=track(2), headers=fakes[-1])
    assert again.status_code == 200 and again.json()["votes"] == 2
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert [song["id"] for song in current["queue"]] == [honest["id"], forced["id"]]
    assert current["queue"][0]["votes"] == 3 and current["queue"][1]["votes"] == 2
    # A capped voter may still vote on other songs, and the host is never capped.
    other = await client.post(
        f"{API}/songs/{honest['id']}/vote", json={"vote_value": -1}, headers=fakes[-1]
    )
    assert other.status_code == 200


@pytest.mark.parametrize(
    "settings_overrides",
    [{**BASE, "max_queue_length": 30, "max_songs_per_guest": 5, "max_songs_per_address": 10}],
)
async def test_twenty_accounts_of_one_address_cannot_fill_the_queue(
    client: httpx.AsyncClient,
) -> None:
    host, guests, fakes = await _party(client, "FLOOD", real=1, sybils=20)
    await client.post(f"{API}/songs/add", json=track("flood-playing"), headers=host)
    statuses = []
    for n, fake in enumerate(fakes):
        response = await client.post(f"{API}/songs/add", json=track(f"flood-{n}"), headers=fake)
        statuses.append(response.status_code)
        if response.status_code == 409:
            assert response.json()["code"] == "song_limit_reached"
    assert statuses.count(200) == 10 and statuses.count(409) == 10
    real = await client.post(f"{API}/songs/add", json=track("real-guest"), headers=guests[0])
    assert real.status_code == 200, real.text


async def test_a_newcomer_joins_with_a_name_in_one_step(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "HELLO"}, headers=host)
    signed_in = await client.post(f"{API}/auth/anonymous", json={"display_name": "Sam"})
    assert signed_in.status_code == 200, signed_in.text
    guest = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    joined = await client.post(
        f"{API}/sessions/join", json={"join_code": "hello"}, headers=at(guest, "198.51.100.9")
    )
    assert joined.status_code == 200 and joined.json()["session"]["join_code"] == "HELLO"
    # A newcomer takes part at once: adds and votes (only the crowd-skip count waits).
    added = await client.post(f"{API}/songs/add", json=track(0), headers=guest)
    assert added.status_code == 200
    assert added.json()["added_by"]["id"] == signed_in.json()["user"]["id"]


async def test_host_removes_every_song_of_one_guest_at_once(client: httpx.AsyncClient) -> None:
    host, guests, fakes = await _party(client, "CLEAN", real=1, sybils=1)
    await client.post(f"{API}/songs/add", json=track(0), headers=host)  # plays
    troll = fakes[0]
    for n in range(1, 4):
        await client.post(f"{API}/songs/add", json=track(n), headers=troll)
    kept = (await client.post(f"{API}/songs/add", json=track(9), headers=guests[0])).json()
    before = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert {s["added_by"]["id"] for s in before["queue"]} == {
        troll["X-Test-User"],
        guests[0]["X-Test-User"],
    }
    url = f"{API}/sessions/current/members/{troll['X-Test-User']}/songs"
    refused = await client.delete(url, headers=guests[0])
    assert refused.status_code == 403 and refused.json()["code"] == "not_manager"
    removed = await client.delete(url, headers=host)
    assert removed.status_code == 200 and removed.json() == {"ok": True, "removed": 3}
    after = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert [s["id"] for s in after["queue"]] == [kept["id"]]
    assert after["session"]["version"] == before["session"]["version"] + 1  # one change
    nothing = await client.delete(url, headers=host)
    assert nothing.json() == {"ok": True, "removed": 0}
    bad = await client.delete(f"{API}/sessions/current/members/not-a-uuid/songs", headers=host)
    assert bad.status_code == 422


async def test_addresses_are_stored_as_keyed_hashes(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await _party(client, "HASH", real=1, sybils=2)
    rows = await _engine_run(
        database_url, "SELECT join_address FROM users WHERE join_address IS NOT NULL"
    )
    stored = {row[0] for row in rows}
    assert len(stored) == 3  # the host's, the real guest's, the two fakes' one
    assert all(len(value) == 32 and "." not in value for value in stored)
    assert SYBIL_ADDRESS not in stored and real_address(0) not in stored


async def test_many_guests_of_one_address_count_concurrently_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Concurrent skip requests of one address's accounts are settled under the party lock:
    together they still count as two."""
    host, _, fakes = await _party(client, "RUSH", real=2, sybils=8)
    for n in range(2):
        await client.post(f"{API}/songs/add", json=track(n), headers=host)
    await age_members(database_url)
    answers = await asyncio.gather(*(_skip(client, fake) for fake in fakes))
    assert not any(a["skipped"] for a in answers)
    assert max(a["skip_request_count"] for a in answers) == 2


@pytest.mark.parametrize(
    "settings_overrides",
    [{**BASE, "rate_limit_enabled": True, "rate_limits": {"sessions_join_party": "3/hour"}}],
)
async def test_new_members_per_party_are_limited(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "DOOR"}, headers=host)
    members = [await _join(client, "DOOR", real_address(n)) for n in range(3)]
    late = await make_user(client, anonymous=True)
    refused = await client.post(
        f"{API}/sessions/join", json={"join_code": "DOOR"}, headers=at(late, real_address(7))
    )
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # Nothing was written for the refused guest; members re-joining are not new members.
    assert (await client.get(f"{API}/sessions/current", headers=late)).status_code == 404
    again = await client.post(
        f"{API}/sessions/join", json={"join_code": "DOOR"}, headers=members[0]
    )
    assert again.status_code == 200
    # Another party has its own door.
    other = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "GATE"}, headers=other)
    elsewhere = await client.post(
        f"{API}/sessions/join", json={"join_code": "GATE"}, headers=at(late, real_address(7))
    )
    assert elsewhere.status_code == 200


def test_these_tests_use_the_shipped_defaults() -> None:
    from queueit.core.settings import Settings

    shipped = Settings(_env_file=None)
    assert shipped.members_counted_per_address == BASE["members_counted_per_address"]
    assert shipped.established_member_seconds == BASE["established_member_seconds"]
    assert shipped.max_songs_per_address == 100
