"""The run's yardstick: what answering costs without QueueIT's work, measured in the same run
on the same machine, so every target of issue 17 is a ratio that survives a slower or busier
machine (absolute figures move ±30 % between runs; ratios from one run move much less).

- the **bare route** `GET /bench/current` of `queueit serve` (`BENCH_ENDPOINTS=true`): the
  document `GET /api/v1/sessions/current` gave, from memory, through the same server,
  middleware, routing, response model and serialiser;
- the **plain app** (`bench.plain_app`, its own uvicorn process): the same bytes from memory
  through FastAPI alone (no middleware, no response model).

Both are loaded by wrk (the Python generator when wrk is missing, labelled) with CPU time of
the server and of PostgreSQL read from /proc. `ensure(ctx)` measures them once per run when
scenario 1 (which measures them beside the real route) did not run."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import loadgen
from bench.context import Context
from bench.harness import (
    PlainApp,
    Server,
    asyncpg_dsn,
    base_settings,
    bearer,
    database_name,
    token,
    truncate,
)
from bench.procfs import CpuMeter
from bench.seed import analyze, seed_party

REAL = "/api/v1/sessions/current"
BARE = "/bench/current"
DOCUMENT = "bench-current.json"  # queueit.health.bench.PAYLOAD_FILE, in the server's DATA_DIR


async def seed_ceiling_party(ctx: Context) -> tuple[str, int]:
    """A party of 50 queued songs and 10 members; returns a member's token and queue length."""
    await truncate(ctx.database_url)
    conn = await asyncpg.connect(asyncpg_dsn(ctx.database_url))
    try:
        party = await seed_party(conn, queued=50, members=9, votes_per_member=5, tag="ceiling")
        await analyze(conn)
    finally:
        await conn.close()
    return token(party.member_ids[0]), len(party.queued_ids)


def bench_server(ctx: Context, data_dir: Path) -> Server:
    """The server as a deployment runs it: several workers share events through Redis
    (without it each worker's events stay its own, and GET /sessions/current cannot trust
    what it kept: party/read_model_caller.py); one process needs no Redis."""
    extra = {}
    if ctx.workers > 1:
        extra = {
            "redis_url": ctx.redis_url,
            "realtime_redis_channel": f"queueit-bench:{uuid.uuid4().hex[:8]}",
        }
    settings = base_settings(ctx.database_url, data_dir, bench_endpoints="true", **extra)
    return Server(settings, workers=ctx.workers, workdir=data_dir, cpus=ctx.server_cpus)


def plain_app(ctx: Context, data_dir: Path) -> PlainApp:
    return PlainApp(
        {},
        workers=ctx.workers,
        workdir=data_dir,
        cpus=ctx.server_cpus,
        body_file=data_dir / DOCUMENT,
    )


def fetch_document(server: Server, tok: str, data_dir: Path) -> bytes:
    """The member's document, written where the bare route and the plain app read it."""
    real = httpx.get(server.base_url + REAL, headers=bearer(tok), timeout=10)
    real.raise_for_status()
    (data_dir / DOCUMENT).write_bytes(real.content)
    return real.content


def same_bytes(server: Server, document: bytes) -> bool:
    answer = httpx.get(server.base_url + BARE, timeout=10)
    answer.raise_for_status()
    return answer.content == document


def measure(
    ctx: Context, server: Server, path: str, tok: str, seconds: float, connections: int
) -> dict[str, Any]:
    """One timed closed-loop run with CPU accounting for the server and PostgreSQL."""
    meter = CpuMeter(server.pids, database_name(ctx.database_url))
    if loadgen.wrk_path() and not ctx.python_loadgen:
        result = loadgen.run_wrk(
            server.base_url, path, tokens=[tok], duration=seconds, connections=connections
        )
    else:
        request = loadgen.Request("GET", path, bearer(tok))
        run = loadgen.run(
            loadgen.closed_loop(
                server.base_url,
                connections=connections,
                next_request=lambda _w: request,
                duration=seconds,
                generator="python (fallback: wrk not installed)",
            )
        )
        result = loadgen.summary(run)
        result["non_2xx"] = sum(v for k, v in run.statuses.items() if not 200 <= k < 300)
    server_cpu, pg_cpu = meter.stop()
    requests = max(1, result["requests"])
    result["server_cpu_ms_per_request"] = round(server_cpu * 1000 / requests, 4)
    result["postgres_cpu_ms_per_request"] = round(pg_cpu * 1000 / requests, 4)
    result["placement"] = ctx.where()
    return result


def mean_of(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Requests/s and CPU per request averaged over the rounds of one route."""
    n = max(1, len(runs))
    return {
        "rps": round(sum(r["rps"] for r in runs) / n, 1),
        "server_cpu_ms": round(sum(r["server_cpu_ms_per_request"] for r in runs) / n, 4),
        "postgres_cpu_ms": round(sum(r["postgres_cpu_ms_per_request"] for r in runs) / n, 4),
        "errors": sum(r["errors"] + r.get("non_2xx", 0) for r in runs),
    }


def record(ctx: Context, bare: list[dict[str, Any]], plain: list[dict[str, Any]]) -> dict[str, Any]:
    """The yardstick from the rounds of the bare route and of the plain app."""
    return {"bare": mean_of(bare), "plain": mean_of(plain), "placement": ctx.where()}


def connections_for(ctx: Context) -> int:
    return 16 * ctx.workers


def ensure(ctx: Context) -> dict[str, Any]:
    """The yardstick of this run, measured now (short) when scenario 1 did not measure it."""
    if ctx.reference is not None:
        return ctx.reference
    tok, _ = asyncio.run(seed_ceiling_party(ctx))
    data_dir = ctx.data_dir("reference")
    seconds = 3.0 if ctx.quick else 5.0
    connections = connections_for(ctx)
    bare: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    with bench_server(ctx, data_dir) as server:
        fetch_document(server, tok, data_dir)
        with plain_app(ctx, data_dir) as app:
            measure(ctx, server, BARE, tok, 2, connections)  # warm-up
            measure(ctx, app, BARE, tok, 2, connections)
            bare.append(measure(ctx, server, BARE, tok, seconds, connections))
            plain.append(measure(ctx, app, BARE, tok, seconds, connections))
    ctx.reference = record(ctx, bare, plain)
    return ctx.reference


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")
