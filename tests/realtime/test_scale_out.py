"""Several instances behind one Redis act as one; losing Redis degrades, never breaks."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REDIS_URL, make_settings, redis_available
from tests.factories import track
from tests.realtime.harness import (
    ProcessServer,
    ThreadServer,
    bearer,
    close_code_of,
    open_ws,
    recv,
    start_party,
    until,
)

pytestmark = pytest.mark.postgres_only
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def channel() -> str:
    return f"queueit:test:{uuid.uuid4().hex}"  # pub/sub ignores the db number: keep tests apart


async def add_songs(http: httpx.AsyncClient, headers: dict[str, str], n: int) -> list[str]:
    ids = []
    for i in range(n):
        added = await http.post("/api/v1/songs/add", json=track(i), headers=headers)
        assert added.status_code == 200, added.text
        ids.append(added.json()["id"])
    return ids


@pytest.fixture
def shared_redis() -> str:
    """The machine's Redis (a sync fixture: the reachability check runs its own loop)."""
    if not redis_available():
        pytest.skip("Redis is not reachable")
    return REDIS_URL


async def test_vote_on_one_instance_reaches_a_client_on_another(
    database_url: str, tmp_path: Path, shared_redis: str
) -> None:
    settings = make_settings(
        database_url, tmp_path / "data", redis_url=shared_redis, realtime_redis_channel=channel()
    )
    a = ProcessServer(settings, tmp_path / "a.log")
    b = ProcessServer(settings, tmp_path / "b.log")
    try:
        await asyncio.gather(a.wait_ready(), b.wait_ready())
        async with (
            httpx.AsyncClient(base_url=a.base_url, timeout=15) as http_a,
            httpx.AsyncClient(base_url=b.base_url, timeout=15) as http_b,
        ):
            party = await start_party(http_a)
            _, queued = await add_songs(http_b, party.host, 2)
            async with await open_ws(a.ws_url(party.session_id), token=bearer(party.guest)) as ws:
                base = (await recv(ws))["version"]
                vote = await http_b.post(
                    f"/api/v1/songs/{queued}/vote", json={"vote_value": 1}, headers=party.guest
                )
                assert vote.status_code == 200
                event = await until(ws, "votes.updated")
                assert event["version"] == base + 1
                assert event["data"]["queued_song_id"] == queued
                assert event["data"]["total_votes"] == 1
            for http in (http_a, http_b):
                checks = (await http.get("/readyz")).json()["checks"]
                assert (checks["redis"], checks["backplane"]) == ("ok", "ok")

            # Graceful shutdown: connected clients get 1001 and the process exits promptly.
            ws = await open_ws(a.ws_url(party.session_id), token=bearer(party.guest))
            await recv(ws)
            seconds = await asyncio.to_thread(a.terminate)
            assert await close_code_of(ws) == 1001
            assert seconds < 10
    finally:
        await asyncio.gather(asyncio.to_thread(a.terminate), asyncio.to_thread(b.terminate))


class RedisProcess:
    """A private redis-server (never the machine's shared one) that the test can kill."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


async def wait_for(http: httpx.AsyncClient, backplane: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = (await http.get("/readyz")).json()
        if body["checks"]["backplane"] == backplane or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


async def test_redis_restart_degrades_then_recovers_and_clients_resync(
    database_url: str, tmp_path: Path
) -> None:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    redis = RedisProcess()
    redis.start()
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
            songs = await add_songs(http_a, party.host, 4)
            async with await open_ws(a.ws_url(party.session_id), token=bearer(party.guest)) as ws:
                base = (await recv(ws))["version"]

                redis.kill()
                assert (await wait_for(http_a, "degraded"))["status"] == "degraded"
                # The API keeps answering; the change made on B cannot reach A ...
                missed = await http_b.post(
                    f"/api/v1/songs/{songs[1]}/vote", json={"vote_value": 1}, headers=party.guest
                )
                assert missed.status_code == 200
                # ... but A's own changes still reach A's sockets, and the version jump shows
                # the client what it missed.
                local = await http_a.post(
                    f"/api/v1/songs/{songs[2]}/vote", json={"vote_value": 1}, headers=party.guest
                )
                assert local.status_code == 200
                jumped = await until(ws, "votes.updated")
                assert jumped["version"] == base + 2
                assert jumped["data"]["queued_song_id"] == songs[2]
                await http_b.post(
                    f"/api/v1/songs/{songs[3]}/vote", json={"vote_value": 1}, headers=party.guest
                )

                redis.start()
                assert (await wait_for(http_a, "ok"))["checks"]["backplane"] == "ok"
                await wait_for(http_b, "ok")
                # A repaired the socket that missed B's change: a fresh snapshot.
                repaired = await until(ws, "session.snapshot", timeout=15)
                assert repaired["version"] == base + 3
                assert repaired["data"]["my_votes"] == {songs[1]: 1, songs[2]: 1, songs[3]: 1}
                # And events flow across instances again.
                await http_b.post(
                    f"/api/v1/songs/{songs[1]}/vote", json={"vote_value": -1}, headers=party.guest
                )
                flowing = await until(ws, "votes.updated")
                assert flowing["version"] == base + 4
                assert flowing["data"]["total_votes"] == -1
    finally:
        a.stop()
        b.stop()
        redis.kill()
