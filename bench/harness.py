"""The one server harness of the benchmarks and drills: `queueit serve` (and the plain
FastAPI app of `bench.plain_app`) as real processes, optionally pinned to cores; the benchmark
database; tokens. Loopback only; every wait is bounded. Statistics: `bench.stats`; CPU,
memory and placement from /proc: `bench.procfs`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import procfs

SECRET = "bench-local-secret-" + "q" * 32
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/queueit_perf"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent

# Only these reach the server from the caller's environment: its settings come from the
# benchmark alone, never from a developer's shell or a stray .env.
_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT")


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(**settings: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
    # The server imports this checkout's code (BENCH_SRC: another tree, for before/after runs).
    env["PYTHONPATH"] = os.environ.get("BENCH_SRC", str(ROOT / "src"))
    env.update({key.upper(): str(value) for key, value in settings.items()})
    return env


PLAIN_BODY_ENV = "BENCH_PLAIN_BODY"

# `python -m bench.run --set KEY=VALUE`: extra settings for every benchmark server.
EXTRA_SETTINGS: dict[str, str] = {}


def base_settings(database_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """The settings every benchmark server runs with (throughput scenarios: no rate limits)."""
    values = {
        "environment": "development",
        "database_url": database_url,
        "data_dir": str(data_dir),
        "local_jwt_secret": SECRET,
        "rate_limit_enabled": "false",
        "log_level": "WARNING",
        "log_json": "true",
        "catalog_provider": "local",
        "session_sweep_seconds": "0",
        # Every simulated client is 127.0.0.1: the per-address and per-process connection caps
        # (issue 16) would refuse the load itself. They are measured by their own tests.
        "serve_max_connections": "0",
        "serve_max_pending_per_address": "0",
        "realtime_max_unauthenticated_per_address": "0",
    }
    values.update(overrides)
    values.update(EXTRA_SETTINGS)
    return values


@dataclass
class Server:
    """`queueit serve` on 127.0.0.1 in its own process group, on the cores `cpus` when given
    (`taskset -c`, inherited by its workers); output goes to files."""

    settings: dict[str, str]
    workers: int = 1
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(os.environ.get("TMPDIR", "/tmp")))
    cpus: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "queueit.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def environment(self) -> dict[str, str]:
        return server_env(**self.settings)

    def start(self, timeout: float = 60.0) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        out = (self.workdir / f"serve-{self.port}.log").open("wb")
        command = self.command()
        if self.cpus is not None:
            command = ["taskset", "-c", self.cpus, *command]
        self.proc = subprocess.Popen(
            command,
            env=self.environment(),
            cwd=self.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"queueit serve exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    # With several workers, let every worker finish its start-up.
                    time.sleep(0.5 if self.workers > 1 else 0)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"queueit serve was not ready within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / f"serve-{self.port}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def pids(self) -> list[int]:
        """The server and its worker processes."""
        if self.proc is None:
            return []
        return [self.proc.pid, *procfs.children(self.proc.pid)]

    def rss_kib(self) -> int:
        """Resident memory of the serving processes (the workers, or the one process)."""
        pids = self.pids()
        workers = pids[1:] if self.workers > 1 else pids[:1]
        return sum(procfs.rss_kib(pid) for pid in workers)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and its workers."""
        return procfs.cpu_seconds(self.pids())

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class PlainApp(Server):
    """`bench.plain_app` under uvicorn (the same loop and HTTP parser as `queueit serve`): a
    FastAPI app without middleware or response model, answering `body_file`'s bytes from
    memory. `settings` is unused; the yardstick of the middleware target."""

    body_file: Path = Path("bench-current.json")

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.plain_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]

    def environment(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
        env["PYTHONPATH"] = str(ROOT)
        env[PLAIN_BODY_ENV] = str(self.body_file)
        return env


# -- database -------------------------------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].partition("?")[0]


# pg_advisory_lock key (in the `postgres` database) held by whoever creates, migrates or drops
# a QueueIT schema on a shared server: migrations create cluster-wide roles (row-level
# security), so the benchmarks, the drills and the test workers take turns ("QMIG").
MIGRATION_LOCK_KEY = 0x514D_4947


async def reset_database(url: str) -> None:
    """Create the benchmark database if needed, then give it a fresh, migrated schema."""
    import asyncpg

    from queueit.core.engine import create_engine
    from queueit.core.migrate import upgrade
    from queueit.core.settings import Settings

    dsn = asyncpg_dsn(url)
    name = database_name(url)
    if name in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to benchmark in the shared database {name!r}")
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(dsn)
        try:
            # Our own database: every schema the migrations make goes (row-level security's).
            await conn.execute(
                "DROP SCHEMA IF EXISTS queueit_rls CASCADE; DROP SCHEMA IF EXISTS auth CASCADE;"
                " DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"
            )
        finally:
            await conn.close()
        other_src = os.environ.get("BENCH_SRC")
        if other_src:
            # The servers' own tree migrates (its head may be older than this checkout's,
            # and a server refuses a schema newer than its code: the schema check's 503).
            await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-c",
                    "from queueit.cli import main; raise SystemExit(main(['migrate']))",
                ],
                env={**os.environ, "PYTHONPATH": other_src, "DATABASE_URL": url},
                check=True,
            )
        else:
            engine = create_engine(Settings(_env_file=None, database_url=url))
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()
    finally:
        await admin.close()  # ends the session: the lock goes with it


TABLES = ("skip_requests", "votes", "queued_songs", "songs", "sessions", "users")


async def truncate(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)}, deleted_accounts CASCADE")
    finally:
        await conn.close()


# -- auth -----------------------------------------------------------------------------------


def token(user_id: uuid.UUID, *, anonymous: bool = True, secret: str = SECRET) -> str:
    from queueit.core.security import mint_local_token

    return mint_local_token(secret, sub=user_id, is_anonymous=anonymous, ttl_seconds=6 * 3600)


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def gather_bounded(limit: int, coros: Iterable[Any]) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(run(c) for c in coros)))
