"""What the fault drills stand on: a throwaway PostgreSQL cluster and a throwaway Redis they
start themselves on free loopback ports (never the machine's shared ones), a drill database,
seeded parties, and voters whose every outcome is recorded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench import loadgen
from bench.harness import asyncpg_dsn, bearer, free_port, token

PG_BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
SHARED_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def drill_database_url() -> str:
    """A database of the drills' own on the shared server, named after TEST_DATABASE_URL's
    (`test_drills`; `test_gw1_drills` for test worker gw1), never the tests' own."""
    head, _, name = SHARED_DATABASE_URL.rpartition("/")
    return f"{head}/{name.partition('?')[0]}_drills"


def missing_tools(*names: str) -> list[str]:
    wanted = {
        "postgres": [PG_BIN / "initdb", PG_BIN / "pg_ctl"],
        "redis": [shutil.which("redis-server")],
    }
    missing = []
    for name in names:
        if not all(path is not None and Path(path).exists() for path in wanted[name]):
            missing.append(name)
    return missing


# -- PostgreSQL ----------------------------------------------------------------------------


class PgCluster:
    """A PostgreSQL cluster of our own in a temporary directory, on a free loopback port.
    PostgreSQL refuses to run as root, so as root it runs as the `postgres` user."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="queueit-drill-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, timeout=timeout, capture_output=True, cwd=self.root)

    def init(self) -> PgCluster:
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"
        )

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# -- Redis ---------------------------------------------------------------------------------


class RedisProcess:
    """redis-server of our own on a free loopback port, no persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket_to(self.port) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill()


def socket_to(port: int) -> Any:
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=1)
    return sock


# -- database -------------------------------------------------------------------------------


async def migrate(url: str) -> None:
    from queueit.core.engine import create_engine
    from queueit.core.migrate import upgrade
    from queueit.core.settings import Settings

    engine = create_engine(Settings(_env_file=None, database_url=url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


# -- voters ---------------------------------------------------------------------------------


@dataclass
class VoteRecord:
    user_id: uuid.UUID
    song_id: uuid.UUID
    value: int
    status: int  # 0: no response at all
    code: str
    sent_at: float
    latency: float


@dataclass
class Voters:
    """Members casting a fresh +1 on song after song (each vote names exactly one row), one
    keep-alive connection each, until `stop` is set. Every outcome is kept."""

    base_url: str
    members: list[uuid.UUID]
    songs: list[uuid.UUID]
    pause: float = 0.0
    records: list[VoteRecord] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        await asyncio.gather(*(self._voter(n, uid) for n, uid in enumerate(self.members)))

    async def _voter(self, index: int, user_id: uuid.UUID) -> None:
        host, port = self.base_url.split("://", 1)[1].split(":")
        conn = loadgen.HttpConnection(host, int(port))
        headers = bearer(token(user_id))
        # Each member starts at a different song and never votes on one twice.
        order = self.songs[index:] + self.songs[:index]
        try:
            for song in order:
                if self.stop.is_set():
                    return
                request = loadgen.Request(
                    "POST", f"/api/v1/songs/{song}/vote", headers, b'{"vote_value": 1}'
                )
                started = time.monotonic()
                try:
                    status, body = await conn.send(request, timeout=15)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                    status, body = 0, b""
                    await conn.close()
                code = _code_of(body) if status != 200 else ""
                self.records.append(
                    VoteRecord(user_id, song, 1, status, code, started, time.monotonic() - started)
                )
                if status == 0:
                    await asyncio.sleep(0.05)
                if self.pause:
                    await asyncio.sleep(self.pause)
        finally:
            await conn.close()


def _code_of(body: bytes) -> str:
    import json

    try:
        value = json.loads(body)
    except ValueError:
        return ""
    return str(value.get("code", "")) if isinstance(value, dict) else ""


async def votes_in_db(url: str) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT queued_song_id, user_id, value FROM votes")
    finally:
        await conn.close()
    return {(r["queued_song_id"], r["user_id"]): r["value"] for r in rows}


async def totals_consistent(url: str) -> bool:
    """Every denormalised total equals the sum of its vote rows."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        bad = await conn.fetchval(
            "SELECT count(*) FROM (SELECT q.id FROM queued_songs q LEFT JOIN votes v"
            " ON v.queued_song_id = q.id GROUP BY q.id, q.votes"
            " HAVING q.votes <> COALESCE(SUM(v.value), 0)) AS wrong"
        )
    finally:
        await conn.close()
    return int(bad) == 0
