"""Scenario 1, the ceiling ratio: requests/s of GET /api/v1/sessions/current (a party with 50
queued songs and 10 members) against GET /bench/current, which answers the very same bytes from
memory in the same server (same workers, middleware, routing, response model and JSON
serialiser; BENCH_ENDPOINTS=true). Both run in one server process tree, one after the other,
with the same load generator, on loopback, for a bounded time."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from bench import loadgen
from bench.context import Context, Row, ScenarioResult
from bench.harness import Server, asyncpg_dsn, base_settings, bearer, token, truncate
from bench.procfs import CpuMeter, busy_warning
from bench.seed import analyze, seed_party

REAL = "/api/v1/sessions/current"
BARE = "/bench/current"
TARGET_RATIO = 0.4


async def _seed(ctx: Context) -> tuple[str, int]:
    """The party; returns a member's token and the queue length."""
    await truncate(ctx.database_url)
    conn = await asyncpg.connect(asyncpg_dsn(ctx.database_url))
    try:
        party = await seed_party(conn, queued=50, members=9, votes_per_member=5, tag="ceiling")
        await analyze(conn)
    finally:
        await conn.close()
    return token(party.member_ids[0]), len(party.queued_ids)


def _measure(
    ctx: Context, server: Server, path: str, tok: str, seconds: float, connections: int
) -> dict[str, Any]:
    """One timed run with CPU accounting for the server and PostgreSQL."""
    meter = CpuMeter(server.pids)
    if loadgen.wrk_path() and not ctx.python_loadgen:
        result = loadgen.run_wrk(
            server.base_url,
            path,
            tokens=[tok],
            duration=seconds,
            connections=connections,
            threads=1,
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
    result["server_cpu_ms_per_request"] = round(server_cpu * 1000 / requests, 3)
    result["postgres_cpu_ms_per_request"] = round(pg_cpu * 1000 / requests, 3)
    return result


def run(ctx: Context) -> ScenarioResult:
    tok, queued = asyncio.run(_seed(ctx))
    data_dir = ctx.data_dir("ceiling")
    settings = base_settings(ctx.database_url, data_dir, bench_endpoints="true")
    connections = 16 * ctx.workers
    seconds = 3.0 if ctx.quick else ctx.duration
    rounds = 1 if ctx.quick else 2
    details: dict[str, Any] = {
        "queued_songs": queued,
        "members": 10,
        "workers": ctx.workers,
        "connections": connections,
        "seconds_per_run": seconds,
        "rounds": rounds,
    }
    if not loadgen.wrk_path():
        ctx.notes.append(loadgen.WRK_INSTALL_HINT + "; scenario 1 used the Python load generator")
    warning = busy_warning()
    if warning:
        details["warning"] = warning
    with Server(settings, workers=ctx.workers, workdir=data_dir) as server:
        real = httpx.get(server.base_url + REAL, headers=bearer(tok), timeout=10)
        real.raise_for_status()
        (data_dir / "bench-current.json").write_bytes(real.content)
        bare = httpx.get(server.base_url + BARE, timeout=10)
        bare.raise_for_status()
        details["response_bytes"] = len(real.content)
        details["same_bytes"] = bare.content == real.content
        # Warm-up: every worker loads its code paths, pools and the bare document.
        _measure(ctx, server, REAL, tok, 2, connections)
        _measure(ctx, server, BARE, tok, 2, connections)
        runs: dict[str, list[dict[str, Any]]] = {"real": [], "bare": []}
        for _ in range(rounds):
            runs["real"].append(_measure(ctx, server, REAL, tok, seconds, connections))
            runs["bare"].append(_measure(ctx, server, BARE, tok, seconds, connections))
    details["runs"] = runs
    real_rps = sum(r["rps"] for r in runs["real"]) / rounds
    bare_rps = sum(r["rps"] for r in runs["bare"]) / rounds
    ratio = real_rps / bare_rps if bare_rps else 0.0
    details.update(real_rps=round(real_rps, 1), bare_rps=round(bare_rps, 1), ratio=round(ratio, 3))
    generator = runs["real"][0]["generator"]
    errors = sum(r["errors"] + r.get("non_2xx", 0) for rs in runs.values() for r in rs)
    name = f"1 ceiling ({ctx.workers}w, {generator.split()[0]})"
    rows = [
        Row(name, "GET /sessions/current req/s", f"{real_rps:,.0f}"),
        Row(name, "bare /bench/current req/s", f"{bare_rps:,.0f}"),
        Row(name, "ceiling ratio", f"{ratio:.2f}", f">= {TARGET_RATIO}", ratio >= TARGET_RATIO),
        Row(
            name,
            "errors, same bytes",
            f"{errors}, {details['same_bytes']}",
            "0, True",
            errors == 0 and bool(details["same_bytes"]),
        ),
    ]
    return ScenarioResult(rows, details)
