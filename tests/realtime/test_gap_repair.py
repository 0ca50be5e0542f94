"""The repair after a backplane reconnect is exact (issue 21, item 5): a socket that missed a
change while Redis was away gets a fresh snapshot from the server, even when later changes
reached it before the repair looked (so no client needs its own version-gap rule). The
clients here never send `resync`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.realtime.harness import ThreadServer, bearer, open_ws, recv, start_party, until
from tests.realtime.test_scale_out import REDIS_SERVER, RedisProcess, add_songs, channel, wait_for

pytestmark = pytest.mark.postgres_only


async def vote(http: httpx.AsyncClient, song: str, headers: dict[str, str]) -> None:
    response = await http.post(
        f"/api/v1/songs/{song}/vote", json={"vote_value": 1}, headers=headers
    )
    assert response.status_code == 200, response.text


class HeldRepair:
    """Fault injection on one instance: its next repair query reads the database, then its
    answer is held back until the test releases it (the window in which a later event can
    arrive before the repair decides)."""

    def __init__(self, server: ThreadServer) -> None:
        self.source = server.state.realtime.hub.source
        self.real = self.source.states
        self.queried = threading.Event()
        self.release = threading.Event()
        self.source.states = self.states

    async def states(self, party_ids: Collection[Any]) -> Any:
        found = await self.real(party_ids)
        self.queried.set()
        await asyncio.to_thread(self.release.wait, 30)
        return found

    def restore(self) -> None:
        self.release.set()
        self.source.states = self.real


@pytest.fixture
def redis_process() -> Any:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    redis = RedisProcess()
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


async def test_an_event_arriving_before_the_repair_query_returns_hides_no_loss(
    database_url: str, tmp_path: Path, redis_process: RedisProcess
) -> None:
    redis = redis_process
    settings = make_settings(
        database_url, tmp_path / "data", redis_url=redis.url, realtime_redis_channel=channel()
    )
    a, b = ThreadServer(settings).start(), ThreadServer(settings).start()
    held = HeldRepair(a)
    try:
        async with (
            httpx.AsyncClient(base_url=a.base_url, timeout=15) as http_a,
            httpx.AsyncClient(base_url=b.base_url, timeout=15) as http_b,
        ):
            party = await start_party(http_a)
            songs = await add_songs(http_a, party.host, 3)
            async with await open_ws(a.ws_url(party.session_id), token=bearer(party.guest)) as ws:
                base = (await recv(ws))["version"]

                redis.kill()
                await wait_for(http_a, "degraded")
                await vote(http_b, songs[1], party.guest)  # base + 1: never reaches A
                redis.start()

                # A resubscribed and queried the versions (base + 1); before its answer is
                # used, B's next change (base + 2) reaches A's socket.
                assert await asyncio.to_thread(held.queried.wait, 30)
                assert (await wait_for(http_b, "ok"))["checks"]["backplane"] == "ok"
                await vote(http_b, songs[2], party.guest)
                later = await until(ws, "votes.updated", timeout=15)
                assert later["version"] == base + 2
                held.release.set()

                # The server sees the hole and repairs it by itself.
                repaired = await until(ws, "session.snapshot", timeout=15)
                assert repaired["version"] >= base + 2
                assert repaired["data"]["my_votes"] == {songs[1]: 1, songs[2]: 1}
    finally:
        held.restore()
        a.stop()
        b.stop()


async def test_a_local_change_during_the_outage_hides_no_loss(
    database_url: str, tmp_path: Path, redis_process: RedisProcess
) -> None:
    """A's own change (delivered locally) comes after B's lost one: the socket's newest
    version is the database's, yet it missed a change."""
    redis = redis_process
    settings = make_settings(
        database_url, tmp_path / "data", redis_url=redis.url, realtime_redis_channel=channel()
    )
    a, b = ThreadServer(settings).start(), ThreadServer(settings).start()
    try:
        async with (
            httpx.AsyncClient(base_url=a.base_url, timeout=15) as http_a,
            httpx.AsyncClient(base_url=b.base_url, timeout=15) as http_b,
        ):
            party = await start_party(http_a)
            songs = await add_songs(http_a, party.host, 3)
            async with await open_ws(a.ws_url(party.session_id), token=bearer(party.guest)) as ws:
                base = (await recv(ws))["version"]
                redis.kill()
                await wait_for(http_a, "degraded")
                await vote(http_b, songs[1], party.guest)  # base + 1: lost for A
                await vote(http_a, songs[2], party.guest)  # base + 2: delivered by A itself
                assert (await until(ws, "votes.updated"))["version"] == base + 2
                redis.start()
                assert (await wait_for(http_a, "ok"))["checks"]["backplane"] == "ok"
                repaired = await until(ws, "session.snapshot", timeout=15)
                assert repaired["version"] == base + 2
                assert repaired["data"]["my_votes"] == {songs[1]: 1, songs[2]: 1}
    finally:
        a.stop()
        b.stop()


async def test_no_loss_means_no_resync(
    database_url: str, tmp_path: Path, redis_process: RedisProcess
) -> None:
    """The honest path: an outage in which nothing changed repairs nothing."""
    redis = redis_process
    settings = make_settings(
        database_url, tmp_path / "data", redis_url=redis.url, realtime_redis_channel=channel()
    )
    a = ThreadServer(settings).start()
    try:
        async with httpx.AsyncClient(base_url=a.base_url, timeout=15) as http_a:
            party = await start_party(http_a)
            songs = await add_songs(http_a, party.host, 2)
            async with await open_ws(a.ws_url(party.session_id), token=bearer(party.guest)) as ws:
                base = (await recv(ws))["version"]
                redis.kill()
                await wait_for(http_a, "degraded")
                redis.start()
                assert (await wait_for(http_a, "ok"))["checks"]["backplane"] == "ok"
                await asyncio.sleep(0.5)  # give a (wrong) repair the time to show up
                await vote(http_a, songs[1], party.guest)
                nxt = await recv(ws)
                assert (nxt["event"], nxt["version"]) == ("votes.updated", base + 1)
    finally:
        a.stop()
