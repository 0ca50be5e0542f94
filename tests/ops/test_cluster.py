"""The deploy topology on loopback (deploy/local_cluster.py): two `queueit serve` replicas on
PostgreSQL (and Redis when reachable) behind nginx rendered from deploy/nginx.conf.

HTTP and a WebSocket go through the proxy; one replica is stopped with SIGTERM in the middle
of a vote load: every acknowledged vote is stored, totals stay consistent, and later requests
succeed through the other replica. Skips without nginx unless QUEUEIT_REQUIRE_SERVICES=1."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import re
import shutil
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import (
    PG_URL,
    REDIS_URL,
    REQUIRE_SERVICES,
    TEST_SECRET,
    asyncpg_url,
    redis_available,
    truncate_pg,
)
from tests.factories import make_host, make_user, track
from tests.ops.procs import json_lines

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

API = "/api/v1"
ROOT = Path(__file__).resolve().parents[2]
VOTE_ROUTE = "/api/v1/songs/{queued_song_id}/vote"
GUESTS = 24
SONGS = 8
CONCURRENCY = 6
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _load_cluster_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_cluster", ROOT / "deploy/local_cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_cluster"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


def _realtime_route_exists() -> bool:
    try:
        from queueit.realtime.router import router
    except ImportError:
        return False
    return any(str(getattr(r, "path", "")).endswith("/realtime") for r in router.routes)


@pytest.fixture
def cluster(tmp_path: Path, pg_schema: bool) -> Iterator[Any]:
    nginx = _nginx()
    if nginx is None:
        message = "nginx is not installed (apt-get install -y nginx-light)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} but QUEUEIT_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    if not pg_schema:
        pytest.skip("PostgreSQL is not reachable")
    asyncio.run(truncate_pg())
    module = _load_cluster_module()
    instance = module.LocalCluster(
        database_url=PG_URL,
        redis_url=REDIS_URL if redis_available() else "",
        workdir=tmp_path / "cluster",
        nginx_binary=nginx,
        env={
            "LOCAL_JWT_SECRET": TEST_SECRET,
            "ALLOWED_ORIGINS": "https://party.example",
            "RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "INFO",
            # A channel of its own: nothing else on this Redis hears or disturbs the cluster.
            "REALTIME_REDIS_CHANNEL": f"queueit:cluster-test:{uuid.uuid4().hex}",
        },
    )
    try:
        instance.start(timeout=60)
        yield instance
    finally:
        instance.close()


class _Socket:
    """A WebSocket client through the proxy that records every event until closed."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.snapshot = asyncio.Event()
        self.voted = asyncio.Event()
        self.closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None

    async def open(self, url: str, token: str) -> None:
        from websockets.asyncio.client import connect

        self._ws = await connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10
        )
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.snapshot.wait(), timeout=10)

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self._ws:
                event = json.loads(raw)
                self.events.append(event)
                if event.get("event") == "session.snapshot":
                    self.snapshot.set()
                if event.get("event") == "votes.updated":
                    self.voted.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self.closed.set()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, timeout=5)


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


async def _stored_votes() -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    engine = create_async_engine(asyncpg_url(PG_URL), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            votes = await conn.execute(text("SELECT user_id, queued_song_id, value FROM votes"))
            stored = {(str(r.user_id), str(r.queued_song_id)): int(r.value) for r in votes}
            songs = await conn.execute(text("SELECT id, votes FROM queued_songs"))
            totals = {str(r.id): int(r.votes) for r in songs}
    finally:
        await engine.dispose()
    return stored, totals


async def _party(client: httpx.AsyncClient) -> tuple[str, list[dict[str, str]], list[str]]:
    """Through the proxy: a host's party with queued songs and GUESTS members; returns the
    session id, the guests' headers and the queued songs' ids."""
    host = await make_host(client)
    code = uuid.uuid4().hex[:8].upper()
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    for n in range(SONGS + 1):
        added = await client.post(f"{API}/songs/add", json=track(f"c{n}"), headers=host)
        assert added.status_code == 200, added.text
    guests = []
    for _ in range(GUESTS):
        guest = await make_user(client, anonymous=True)
        joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
        assert joined.status_code == 200, joined.text
        guests.append(guest)
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    song_ids = [item["id"] for item in current["queue"]][:SONGS]
    assert len(song_ids) == SONGS
    return created.json()["session"]["id"], guests, song_ids


class _Votes:
    """Votes through the proxy, remembering which ones the server acknowledged (200)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.acknowledged: dict[tuple[str, str], int] = {}
        self.failures: list[str] = []
        self.sent = 0

    async def vote(self, guest: dict[str, str], song_id: str, value: int) -> None:
        self.sent += 1
        headers = {"Authorization": guest["Authorization"]}
        try:
            response = await self.client.post(
                f"{API}/songs/{song_id}/vote", json={"vote_value": value}, headers=headers
            )
        except httpx.HTTPError as exc:
            self.failures.append(type(exc).__name__)
            return
        if response.status_code == 200:
            self.acknowledged[(guest["X-Test-User"], song_id)] = value
        else:
            self.failures.append(f"{response.status_code} {response.text[:200]}")

    async def load_while_stopping(
        self, guests: list[dict[str, str]], song_ids: list[str], replica: Any
    ) -> int:
        """Every guest votes on every song (CONCURRENCY at a time); `replica` gets SIGTERM
        once a few dozen votes went through, while the rest are still queued. Returns its
        exit status."""
        work: asyncio.Queue[tuple[dict[str, str], str, int]] = asyncio.Queue()
        for index, guest in enumerate(guests):
            for number, song_id in enumerate(song_ids):
                work.put_nowait((guest, song_id, 1 if (index + number) % 3 else -1))

        async def worker() -> None:
            while not work.empty():
                await self.vote(*work.get_nowait())
                await asyncio.sleep(0.005)

        load = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
        try:
            while len(self.acknowledged) < 40 and not all(task.done() for task in load):
                await asyncio.sleep(0.01)
            assert not work.empty(), "the load finished before the replica was stopped"
            replica.process.send_signal(signal.SIGTERM)
            returncode: int = await asyncio.to_thread(replica.process.wait, 30)
        finally:
            await asyncio.gather(*load)
        return returncode


async def _assert_no_acknowledged_vote_lost(votes: _Votes, song_ids: list[str]) -> None:
    stored, totals = await _stored_votes()
    lost = {pair: v for pair, v in votes.acknowledged.items() if stored.get(pair) != v}
    assert lost == {}
    for song_id in song_ids:  # each song's total is the sum of its stored votes
        assert totals[song_id] == sum(v for (_, song), v in stored.items() if song == song_id)
    # Only requests caught on a connection the stopping replica closed may fail, never as 500.
    assert len(votes.failures) <= votes.sent // 10, votes.failures
    assert not [f for f in votes.failures if f.startswith("500")], votes.failures


def _assert_drained_quietly(replica: Any, returncode: int) -> None:
    assert returncode == 0
    records = json_lines(replica.log())
    assert any(r.get("event") == "shutdown_complete" for r in records)
    assert [r for r in records if r.get("level") in ("error", "critical") or "raw" in r] == []


def _assert_operational_series(metrics: str) -> None:
    for needle in (
        f'queueit_http_request_duration_seconds_count{{method="POST",route="{VOTE_ROUTE}",'
        'status="200"}',
        "queueit_http_requests_in_flight",
        "queueit_db_pool_checked_out",
        "queueit_active_sessions 1.0",
        "queueit_ready 1.0",
        "queueit_ws_connections",
        "queueit_backplane_published_total",
        "# HELP queueit_rate_limited",
    ):
        assert needle in metrics, needle
    for line in metrics.splitlines():  # route templates only, never ids
        if line.startswith("queueit_"):
            assert not UUID_RE.search(line.split(" ")[0]), line


async def test_cluster_survives_losing_a_replica(cluster: Any) -> None:
    stopped, survivor = cluster.started
    async with httpx.AsyncClient(base_url=cluster.url, timeout=15) as client:
        session_id, guests, song_ids = await _party(client)

        # When the realtime route exists: a WebSocket through the proxy (Upgrade/Connection
        # headers), and one straight to the replica about to stop.
        socket: _Socket | None = None
        direct: _Socket | None = None
        if _realtime_route_exists():
            path = f"{API}/sessions/{session_id}/realtime"
            socket, direct = _Socket(), _Socket()
            await socket.open(f"{cluster.ws_url}{path}", _token(guests[0]))
            await direct.open(f"ws://127.0.0.1:{stopped.port}{path}", _token(guests[1]))

        votes = _Votes(client)
        returncode = await votes.load_while_stopping(guests, song_ids, stopped)

        # After the stop: everything goes to the surviving replica and succeeds.
        for guest in guests[:10]:
            response = await client.get(f"{API}/sessions/current", headers=guest)
            assert response.status_code == 200, response.text
            await votes.vote(guest, song_ids[0], -1)
            assert votes.acknowledged[(guest["X-Test-User"], song_ids[0])] == -1

        if direct is not None:
            await asyncio.wait_for(direct.closed.wait(), timeout=10)
            assert direct.close_code == 1001  # the server went away, and said so
        if socket is not None:
            closed_by_server = socket.close_code
            if closed_by_server is not None:
                assert closed_by_server == 1001  # it was on the stopped replica: going away
            elif cluster.redis_url:
                # Votes handled by either replica reach this socket (Redis backplane).
                await asyncio.wait_for(socket.voted.wait(), timeout=10)
            await socket.close()

        bearer = {"Authorization": f"Bearer {cluster.metrics_token}"}
        metrics = (await client.get(f"{survivor.url}/metrics", headers=bearer)).text
        assert (await client.get(f"{cluster.url}/metrics")).status_code == 404

    await _assert_no_acknowledged_vote_lost(votes, song_ids)
    _assert_drained_quietly(stopped, returncode)
    _assert_operational_series(metrics)
