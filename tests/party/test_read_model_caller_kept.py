"""GET /sessions/current without a database round trip on a repeat at an unchanged version
(party/read_model_caller.py `Callers`, realtime/versions.py): the kept row answers the bytes
the general path gives, and stops being trusted as soon as an event moves the party's
version, the backplane may have lost one, or it is older than the read model's TTL. Real
PostgreSQL with row-level security; real Redis for the instances that share it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from queueit.core.events import DomainEvent, EventName
from queueit.main import create_app
from queueit.party.read_model import TTL_SECONDS
from queueit.party.read_model_caller import CallerRow, Callers, Kept
from queueit.realtime.versions import VersionTracker
from tests.conftest import REDIS_URL, make_settings, redis_available
from tests.factories import make_host, make_user, track
from tests.realtime.test_scale_out import REDIS_SERVER, RedisProcess, wait_for
from tests.statements import statements_for

API = "/api/v1"
CURRENT = f"{API}/sessions/current"
Headers = dict[str, str]


async def _round_trips(
    app: FastAPI, client: httpx.AsyncClient, headers: Headers
) -> tuple[int, httpx.Response]:
    """The database round trips one GET costs (statements through the ORM, and the fast
    path's statement, which tests/statements.py counts where it is sent), and its response."""
    return await statements_for(app, client, "GET", CURRENT, headers=headers)


async def _general(app: FastAPI, client: httpx.AsyncClient, headers: Headers) -> httpx.Response:
    """What the general path answers (a unit of work and the caller's ORM row)."""
    fast = app.state.ctx.fast_path
    enabled, fast.enabled = fast.enabled, False
    try:
        return await client.get(CURRENT, headers=headers)
    finally:
        fast.enabled = enabled


async def _party(
    client: httpx.AsyncClient, code: str, guests: int
) -> tuple[Headers, uuid.UUID, list[Headers], list[str]]:
    """A party with three songs (one playing, two queued: their ids are returned) and `guests`
    guests who joined."""
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    for n in range(3):
        added = await client.post(f"{API}/songs/add", json=track(f"{code}-{n}"), headers=host)
        assert added.status_code == 200, added.text
    members = []
    for _ in range(guests):
        guest = await make_user(client, anonymous=True)
        joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
        assert joined.status_code == 200, joined.text
        members.append(guest)
    body = (await client.get(CURRENT, headers=host)).json()
    return host, uuid.UUID(body["session"]["id"]), members, [song["id"] for song in body["queue"]]


async def _vote(client: httpx.AsyncClient, song: str, headers: Headers, value: int = 1) -> None:
    voted = await client.post(
        f"{API}/songs/{song}/vote", json={"vote_value": value}, headers=headers
    )
    assert voted.status_code == 200, voted.text


async def _kept(app: FastAPI, client: httpx.AsyncClient, headers: Headers) -> bytes:
    """GET until the caller's row is kept (the first may build the document through the
    general path, which keeps nothing; the next is the one statement), then once more: that
    one costs no round trip."""
    for _ in range(2):
        first = await client.get(CURRENT, headers=headers)
        assert first.status_code == 200, first.text
    trips, again = await _round_trips(app, client, headers)
    assert trips == 0 and again.content == first.content
    return again.content


def _user(headers: Headers) -> str:
    return headers["X-Test-User"]


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "no_active_session"


@pytest.mark.postgres_only
async def test_a_repeat_at_an_unchanged_version_makes_no_round_trip(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    host, _party_id, [guest], songs = await _party(client, "KEPTA", guests=1)
    await _vote(client, songs[1], guest)
    for headers in (guest, host):
        expected = await _general(app, client, headers)
        trips, first = await _round_trips(app, client, headers)
        assert trips == 1  # the one statement: the version moved since this caller's last read
        for _ in range(3):
            trips, again = await _round_trips(app, client, headers)
            assert trips == 0
            assert again.status_code == 200 and again.content == expected.content
        assert first.content == expected.content
    assert (await client.get(CURRENT, headers=guest)).json()["my_votes"] == {songs[1]: 1}


@pytest.mark.postgres_only
async def test_votes_move_the_version_and_the_next_answer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _host, _party_id, [guest, other], songs = await _party(client, "KEPTV", guests=2)
    await _kept(app, client, guest)
    await _vote(client, songs[0], other)  # another member's vote: an event moves the version
    trips, after = await _round_trips(app, client, guest)
    assert trips >= 1
    assert after.content == (await _general(app, client, guest)).content
    voted = next(song for song in after.json()["queue"] if song["id"] == songs[0])
    assert voted["votes"] == 1 and after.json()["my_votes"] == {}
    await _kept(app, client, guest)
    await _vote(client, songs[1], guest, value=-1)  # the caller's own
    mine = await client.get(CURRENT, headers=guest)
    assert mine.json()["my_votes"] == {songs[1]: -1}
    assert mine.content == (await _general(app, client, guest)).content


@pytest.mark.postgres_only
async def test_a_kicked_and_a_banned_member_are_refused_on_the_next_get(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    host, party_id, [kicked, banned, honest], _songs = await _party(client, "KEPTK", guests=3)
    for headers in (kicked, banned, honest):
        await _kept(app, client, headers)
    members = f"{API}/sessions/{party_id}/members"
    removed = await client.post(f"{members}/{_user(kicked)}/kick", headers=host)
    assert removed.status_code == 200, removed.text
    removed = await client.post(f"{members}/{_user(banned)}/ban", headers=host)
    assert removed.status_code == 200, removed.text
    _refused(await client.get(CURRENT, headers=kicked))
    _refused(await client.get(CURRENT, headers=banned))
    _refused(await _general(app, client, kicked))  # as the general path answers
    served = await client.get(CURRENT, headers=honest)
    assert (
        served.status_code == 200
        and served.content == (await _general(app, client, honest)).content
    )


@asynccontextmanager
async def _instance(settings: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield app, http


async def _heard(app: FastAPI, party_id: uuid.UUID, version: int, timeout: float = 20) -> None:
    """Until this instance's tracker has heard of `version` (the event's delivery)."""
    versions = app.state.ctx.realtime.versions
    deadline = time.monotonic() + timeout
    while (versions.seen(party_id) or 0) < version:
        assert time.monotonic() < deadline, f"version {version} never reached the instance"
        await asyncio.sleep(0.02)


async def _version(client: httpx.AsyncClient, headers: Headers) -> int:
    version: int = (await client.get(CURRENT, headers=headers)).json()["session"]["version"]
    return version


@pytest.fixture
def shared_redis() -> str:
    if not redis_available():
        pytest.skip("Redis is not reachable")
    return REDIS_URL


@pytest.mark.postgres_only
async def test_a_removal_on_one_instance_refuses_the_member_on_another(
    database_url: str, tmp_path: Path, shared_redis: str
) -> None:
    channel = f"queueit:test:{uuid.uuid4().hex}"

    def settings(name: str) -> Any:
        return make_settings(
            database_url, tmp_path / name, redis_url=shared_redis, realtime_redis_channel=channel
        )

    async with (
        _instance(settings("a")) as (_app_a, http_a),
        _instance(settings("b")) as (app_b, http_b),
    ):
        host, party_id, [kicked, banned, honest], _songs = await _party(http_a, "KEPTR", guests=3)
        for headers in (kicked, banned, honest):
            await _kept(app_b, http_b, headers)
        members = f"{API}/sessions/{party_id}/members"
        for path in (f"{members}/{_user(kicked)}/kick", f"{members}/{_user(banned)}/ban"):
            removed = await http_a.post(path, headers=host)
            assert removed.status_code == 200, removed.text
        await _heard(app_b, party_id, await _version(http_a, host))
        _refused(await http_b.get(CURRENT, headers=kicked))
        _refused(await http_b.get(CURRENT, headers=banned))
        served = await http_b.get(CURRENT, headers=honest)
        assert served.status_code == 200
        assert served.content == (await _general(app_b, http_b, honest)).content
        assert served.json()["session"]["version"] == await _version(http_a, host)


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    redis = RedisProcess()
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@pytest.mark.postgres_only
async def test_a_lost_event_stops_the_kept_rows_until_the_backplane_is_back(
    database_url: str, tmp_path: Path, private_redis: RedisProcess
) -> None:
    def settings(name: str) -> Any:
        return make_settings(
            database_url,
            tmp_path / name,
            redis_url=private_redis.url,
            realtime_redis_channel="queueit:test:kept",
        )

    async with (
        _instance(settings("a")) as (_app_a, http_a),
        _instance(settings("b")) as (app_b, http_b),
    ):
        _host, _party_id, [guest, other], songs = await _party(http_a, "KEPTG", guests=2)
        await _kept(app_b, http_b, guest)
        private_redis.kill()
        assert (await wait_for(http_b, "degraded"))["checks"]["backplane"] == "degraded"
        await _vote(http_a, songs[1], other)  # its event reaches no other instance
        during = await http_b.get(CURRENT, headers=guest)
        voted = next(song for song in during.json()["queue"] if song["id"] == songs[1])
        assert voted["votes"] == 1  # read from the database, not the row kept before
        trips, _ = await _round_trips(app_b, http_b, guest)
        assert trips >= 1  # nothing is kept while events may be lost
        private_redis.start()
        assert (await wait_for(http_b, "ok"))["checks"]["backplane"] == "ok"
        first = await http_b.get(CURRENT, headers=guest)
        assert first.content == (await _general(app_b, http_b, guest)).content
        await _kept(app_b, http_b, guest)  # kept again once the epoch is established


@pytest.mark.postgres_only
async def test_a_kept_row_older_than_the_ttl_is_read_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _host, _party_id, [guest], _songs = await _party(client, "KEPTT", guests=1)
    callers: Callers = app.state.ctx.fast_path.callers
    now = [time.monotonic()]
    callers.clock = lambda: now[0]
    await _kept(app, client, guest)
    now[0] += TTL_SECONDS - 0.01
    assert (await _round_trips(app, client, guest))[0] == 0
    now[0] += 0.02
    trips, response = await _round_trips(app, client, guest)
    assert trips == 1 and response.status_code == 200


# The bookkeeping itself, without a database.


class _Backplane:
    """Only what the tracker asks of a backplane."""

    def __init__(self) -> None:
        self.state = "ok"

    def health(self) -> str:
        return self.state


def _tracker(backplane: _Backplane, **options: Any) -> VersionTracker:
    tracker = VersionTracker(backplane, complete=options.pop("complete", True), **options)  # type: ignore[arg-type]
    tracker.running = True
    return tracker


def _row(party_id: uuid.UUID, version: int) -> CallerRow:
    return CallerRow(
        is_anonymous=True,
        party_id=party_id,
        last_active_at=datetime.now(UTC),
        version=version,
        ended=False,
        requested_skip=False,
        my_votes={},
    )


def _event(party_id: uuid.UUID, version: int) -> DomainEvent:
    return DomainEvent(party_id, EventName.VOTES_UPDATED, version, {})


def test_a_higher_version_heard_of_or_a_gap_ends_the_trust() -> None:
    backplane, party = _Backplane(), uuid.uuid4()
    tracker, callers = _tracker(backplane), Callers()
    key = (uuid.uuid4(), True)

    def keep(party: uuid.UUID = party) -> None:
        epoch = tracker.epoch()
        assert epoch is not None
        callers.keep(key, Kept(_row(party, 5), epoch, callers.clock()))

    keep()
    tracker.on_event(_event(party, 5), "")  # the read's own version: still trusted
    tracker.on_event(_event(uuid.uuid4(), 9), "")  # another party's
    assert callers.usable(key, tracker) is not None
    tracker.on_event(_event(party, 6), "")
    assert callers.usable(key, tracker) is None and key not in callers
    quiet = uuid.uuid4()  # a party no event is heard of: only the losses below end the trust

    def down_and_up() -> None:
        backplane.state = "degraded"
        assert tracker.epoch() is None  # seen by a request meanwhile
        backplane.state = "ok"

    for lose in (tracker.on_gap, down_and_up):
        keep(quiet)
        assert callers.usable(key, tracker) is not None
        lose()
        assert callers.usable(key, tracker) is None  # the epoch moved meanwhile
    keep(quiet)
    tracker.running = False
    assert tracker.epoch() is None and callers.usable(key, tracker) is None


def test_nothing_is_trusted_where_events_of_other_processes_cannot_arrive() -> None:
    assert _tracker(_Backplane(), complete=False).epoch() is None  # memory, several workers


def test_forgetting_a_party_moves_the_epoch() -> None:
    tracker = _tracker(_Backplane(), max_parties=2)
    epoch = tracker.epoch()
    parties = [uuid.uuid4() for _ in range(3)]
    for party in parties[:2]:
        tracker.on_event(_event(party, 1), "")
    assert tracker.epoch() == epoch
    tracker.on_event(_event(parties[2], 1), "")
    assert tracker.seen(parties[0]) is None and tracker.epoch() != epoch


def test_kept_rows_are_bounded_least_recently_used_first_out() -> None:
    tracker, callers = _tracker(_Backplane()), Callers(max_entries=2)
    epoch = tracker.epoch()
    assert epoch is not None
    keys = [(uuid.uuid4(), True) for _ in range(3)]
    for key in keys[:2]:
        callers.keep(key, Kept(_row(uuid.uuid4(), 1), epoch, callers.clock()))
    assert callers.usable(keys[0], tracker) is not None  # now the most recently used
    callers.keep(keys[2], Kept(_row(uuid.uuid4(), 1), epoch, callers.clock()))
    assert len(callers) == 2
    assert keys[1] not in callers and keys[0] in callers and keys[2] in callers
