"""What every scenario shares: the benchmark database, `queueit serve` as a real process,
tokens, and summary statistics. Loopback only; every wait is bounded."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

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
    }
    values.update(overrides)
    values.update(EXTRA_SETTINGS)
    return values


@dataclass
class Server:
    """`queueit serve` on 127.0.0.1 in its own process group; output goes to files."""

    settings: dict[str, str]
    workers: int = 1
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(os.environ.get("TMPDIR", "/tmp")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        out = (self.workdir / f"serve-{self.port}.log").open("wb")
        command = [
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
        self.proc = subprocess.Popen(
            command,
            env=server_env(**self.settings),
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
        found = [self.proc.pid]
        for pid in _children(self.proc.pid):
            found.append(pid)
        return found

    def rss_kib(self) -> int:
        """Resident memory of the serving processes (the workers, or the one process)."""
        pids = self.pids()
        workers = pids[1:] if self.workers > 1 else pids[:1]
        return sum(_rss_kib(pid) for pid in workers)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and its workers."""
        return cpu_seconds(self.pids())

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


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_times(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds used so far, by process."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    return times


def cpu_seconds(pids: Iterable[int]) -> float:
    return sum(cpu_times(pids).values())


class CpuMeter:
    """CPU seconds used by the server's processes and by PostgreSQL between start and stop
    (backends that start meanwhile count from zero)."""

    def __init__(self, server_pids: Callable[[], list[int]]) -> None:
        self.server_pids = server_pids
        self.before_server = cpu_seconds(server_pids())
        self.before_pg = cpu_times(postgres_pids())

    def stop(self) -> tuple[float, float]:
        server = cpu_seconds(self.server_pids()) - self.before_server
        after_pg = cpu_times(postgres_pids())
        pg = sum(t - self.before_pg.get(pid, 0.0) for pid, t in after_pg.items())
        return server, max(0.0, pg)


def postgres_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": mem_gib,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def busy_warning() -> str | None:
    """Benchmarks on a shared 2-core machine: say so when something else is using it."""
    load = os.getloadavg()[0]
    if load > 1.5:
        return f"1-minute load average is {load:.2f} before this scenario: figures may be low"
    return None


# -- database -------------------------------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


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
    name = dsn.rsplit("/", 1)[1]
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


# -- statistics -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def latency_summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p90_ms": round(percentile(ms, 0.90), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2) if ms else 0.0,
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else 0.0,
    }


async def gather_bounded(limit: int, coros: Iterable[Any]) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(run(c) for c in coros)))
