"""Realtime fan-out benchmark: one session, N WebSocket clients, votes at a fixed rate.

Reports p50/p99 delivery latency of `votes.updated` and the server's memory per idle
connection (RSS delta / connections). Latency is measured three ways: from the event's `ts`
(stamped by the server right after the commit; same machine, same clock) to receipt, which is
the commit-to-receipt figure; from the vote's HTTP response to receipt (negative when the event
beat the response, as it usually does: events are published before the response is written);
and from the moment the vote request was sent (an upper bound).

The server runs in a subprocess (uvicorn, as `queueit serve` would) on a free 127.0.0.1 port
against PostgreSQL; everything is bounded in time and stops by itself.

    .venv/bin/python -m bench.realtime_fanout --clients 200 --rate 20 --duration 15 --idle 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from queueit.catalog.local import DEMO_CATALOG_PATH, load_tracks

SECRET = "bench-local-secret-" + "b" * 32
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/queueit_bench"
SETTINGS_ENV = "QUEUEIT_BENCH_SETTINGS"
DEFLATE_ENV = "QUEUEIT_BENCH_DEFLATE"
COMPRESSION: str | None = None  # "deflate" with --compression: server and clients negotiate it


# -- server --------------------------------------------------------------------------------


def serve() -> None:
    """Subprocess entry: settings from the environment, port on stdout, uvicorn until SIGTERM."""
    import socket

    import uvicorn

    from queueit.core.settings import Settings
    from queueit.main import create_app

    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,
        ws_ping_interval=settings.realtime_ping_interval_seconds,
        ws_ping_timeout=settings.realtime_ping_timeout_seconds,
        ws_per_message_deflate=os.environ.get(DEFLATE_ENV) == "1",
        backlog=4096,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=[sock])


class Server:
    def __init__(self, database_url: str, data_dir: Path) -> None:
        from queueit.core.settings import Settings

        settings = Settings(
            _env_file=None,
            environment="development",
            database_url=database_url,
            data_dir=data_dir,
            local_jwt_secret=SECRET,
            rate_limit_enabled=False,
            log_level="WARNING",
            database_pool_size=20,
        )
        env = {**os.environ, SETTINGS_ENV: settings.model_dump_json()}
        env[DEFLATE_ENV] = "1" if COMPRESSION else "0"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.realtime_fanout", "--serve"],
            env=env,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.base_url = f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


async def wait_ready(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        for _ in range(600):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def prepare_database(url: str) -> None:
    """Create the benchmark database if needed and migrate it."""
    import asyncpg

    from queueit.core.engine import create_engine
    from queueit.core.migrate import upgrade
    from queueit.core.settings import Settings

    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(url.rsplit("/", 1)[0].replace("postgresql", "postgres") + "/")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    engine = create_engine(Settings(_env_file=None, database_url=url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


# -- clients -------------------------------------------------------------------------------


def token(user_id: uuid.UUID, *, anonymous: bool) -> str:
    from queueit.core.security import mint_local_token

    return mint_local_token(SECRET, sub=user_id, is_anonymous=anonymous, ttl_seconds=3600)


def headers(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def bounded(limit: int, coros: list[Any]) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def make_party(http: httpx.AsyncClient, members: int) -> tuple[str, str, list[str]]:
    """(session id, host token, member tokens)."""
    host = token(uuid.uuid4(), anonymous=False)
    await http.patch(
        "/api/v1/users/me",
        json={"username": f"bench-{uuid.uuid4().hex[:8]}", "music_provider": "spotify"},
        headers=headers(host),
    )
    code = "B" + uuid.uuid4().hex[:8].upper()
    created = await http.post(
        "/api/v1/sessions/create", json={"join_code": code}, headers=headers(host)
    )
    created.raise_for_status()
    tokens = [token(uuid.uuid4(), anonymous=True) for _ in range(members)]

    async def join(tok: str) -> None:
        joined = await http.post(
            "/api/v1/sessions/join", json={"join_code": code}, headers=headers(tok)
        )
        joined.raise_for_status()

    await bounded(20, [join(t) for t in tokens])
    return created.json()["session"]["id"], host, tokens


async def open_clients(url: str, tokens: list[str]) -> list[ClientConnection]:
    async def one(tok: str) -> ClientConnection:
        ws = await connect(
            url, additional_headers=headers(tok), compression=COMPRESSION, open_timeout=60
        )
        await asyncio.wait_for(ws.recv(), 60)  # the snapshot
        return ws

    return list(await bounded(50, [one(t) for t in tokens]))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- phases --------------------------------------------------------------------------------


_DEMO_IDS = [t.id for t in load_tracks(DEMO_CATALOG_PATH)]


def track(n: int) -> dict[str, Any]:
    """The n-th track of the bundled catalog (added tracks are verified: invented ids are
    refused); distinct for n below its size (~700)."""
    return {"id": _DEMO_IDS[n % len(_DEMO_IDS)], "source": "local"}


Key = tuple[str, int]  # (queued song id, total votes): unique, every vote is a new +1


async def latency_phase(
    server: Server, clients: int, rate: float, duration: float
) -> dict[str, Any]:
    """Open-loop load: vote k is sent at start + k/rate whether or not earlier ones finished.
    Each vote is a member's first +1 on a song, so (song, total) names exactly one event."""
    votes = int(rate * duration)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        session_id, host, tokens = await make_party(http, clients)
        songs = []
        for n in range(votes // len(tokens) + 2):
            added = await http.post("/api/v1/songs/add", json=track(n), headers=headers(host))
            songs.append(added.json()["id"])
        songs = songs[1:]  # the first one is playing: not votable
        url = f"ws://127.0.0.1:{server.port}/api/v1/sessions/{session_id}/realtime"
        sockets = await open_clients(url, tokens)
        arrivals: list[dict[Key, float]] = [{} for _ in sockets]
        from_commit: list[float] = []

        async def listen(ws: ClientConnection, seen: dict[Key, float]) -> None:
            async for raw in ws:
                now, wall = time.perf_counter(), time.time()
                message = orjson.loads(raw)
                if message["event"] == "votes.updated":
                    data = message["data"]
                    seen[(data["queued_song_id"], data["total_votes"])] = now
                    from_commit.append(wall - datetime.fromisoformat(message["ts"]).timestamp())

        listeners = [
            asyncio.create_task(listen(ws, seen))
            for ws, seen in zip(sockets, arrivals, strict=True)
        ]
        sent: dict[Key, float] = {}
        answered: dict[Key, float] = {}

        async def vote(k: int) -> None:
            song = songs[k // len(tokens)]
            began = time.perf_counter()
            response = await http.post(
                f"/api/v1/songs/{song}/vote",
                json={"vote_value": 1},
                headers=headers(tokens[k % len(tokens)]),
            )
            done = time.perf_counter()
            response.raise_for_status()
            key = (song, response.json()["total_votes"])
            sent[key], answered[key] = began, done

        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        pending = []
        for k in range(votes):
            delay = started + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(vote(k)))
        sending = time.perf_counter() - started
        await asyncio.gather(*pending)
        await asyncio.sleep(2)  # let the last events land
        cpu = server.cpu_seconds() - cpu_before
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        await bounded(100, [ws.close() for ws in sockets])
    from_response = [seen[k] - answered[k] for seen in arrivals for k in answered if k in seen]
    from_send = [seen[k] - sent[k] for seen in arrivals for k in sent if k in seen]
    http_ms = [(answered[k] - sent[k]) * 1000 for k in sent]

    def ms(values: list[float], q: float) -> float:
        return round(pct(values, q) * 1000, 2)

    return {
        "clients": clients,
        "votes": votes,
        "achieved_rate": round((votes - 1) / sending, 1) if votes > 1 else 0,
        "delivered": len(from_response),
        "expected": votes * len(sockets),
        "p50_ms_from_commit": ms(from_commit, 0.5),
        "p99_ms_from_commit": ms(from_commit, 0.99),
        "max_ms_from_commit": ms(from_commit, 1.0),
        "p50_ms_from_response": ms(from_response, 0.5),
        "p99_ms_from_response": ms(from_response, 0.99),
        "p50_ms_from_send": ms(from_send, 0.5),
        "p99_ms_from_send": ms(from_send, 0.99),
        "p50_ms_vote_http": round(statistics.median(http_ms), 2),
        "delivered_before_response": sum(1 for x in from_response if x < 0),
        # Server CPU (votes' HTTP handling included) per frame delivered.
        "server_cpu_us_per_frame": round(cpu / max(1, len(from_response)) * 1e6, 1),
    }


async def memory_phase(server: Server, idle: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        session_id, _, tokens = await make_party(http, idle + 20)
        url = f"ws://127.0.0.1:{server.port}/api/v1/sessions/{session_id}/realtime"
        warm = await open_clients(url, tokens[:20])  # first connections load lazy code paths
        await bounded(20, [ws.close() for ws in warm])
        await asyncio.sleep(2)
        before = server.rss_kib()
        sockets = await open_clients(url, tokens[20:])
        await asyncio.sleep(3)
        after = server.rss_kib()
        await bounded(100, [ws.close() for ws in sockets])
    return {
        "idle_connections": len(sockets),
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_connection": round((after - before) / len(sockets), 1),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    await prepare_database(args.database_url)
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "compression": COMPRESSION or "none",
    }
    with tempfile.TemporaryDirectory() as data_dir:
        for clients in args.clients:
            server = Server(args.database_url, Path(data_dir))
            try:
                await wait_ready(server.base_url)
                phase = await asyncio.wait_for(
                    latency_phase(server, clients, args.rate, args.duration), timeout=600
                )
                results.setdefault("latency", []).append(phase)
            finally:
                server.stop()
        if args.idle:
            server = Server(args.database_url, Path(data_dir))
            try:
                await wait_ready(server.base_url)
                results["memory"] = await asyncio.wait_for(memory_phase(server, args.idle), 600)
            finally:
                server.stop()
    return results


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, nargs="+", default=[200])
    parser.add_argument("--rate", type=float, default=20.0, help="votes per second")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of voting")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections (0: skip)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument(
        "--compression", action="store_true", help="negotiate permessage-deflate (default: off)"
    )
    parsed = parser.parse_args()
    COMPRESSION = "deflate" if parsed.compression else None
    if parsed.serve:
        serve()
    else:
        raise_open_files_limit()
        print(json.dumps(asyncio.run(main(parsed)), indent=2))
