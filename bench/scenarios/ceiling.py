"""Scenario 1, the ceiling: GET /api/v1/sessions/current (a party with 50 queued songs and 10
members) against the run's yardstick (`bench.reference`): GET /bench/current, the very same
bytes from memory in the same server (same workers, middleware, routing, response model and
serialiser; BENCH_ENDPOINTS=true), and the plain FastAPI app answering them with nothing
around it. The three are loaded in turn, round after round, by the same load generator, on
loopback, for a bounded time; the ratios are issue 17's snapshot and middleware targets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bench import loadgen, reference
from bench.context import Context, Row, ScenarioResult
from bench.procfs import busy_warning
from bench.reference import BARE, REAL, ratio

TARGET_RATIO = 0.4  # throughput of the real route / the bare route's
TARGET_SNAPSHOT_CPU = 2.5  # (server + PostgreSQL CPU) per request / the bare route's server CPU
TARGET_MIDDLEWARE = 1.5  # the bare route / the plain app (CPU per request, and requests/s)


def run(ctx: Context) -> ScenarioResult:
    tok, queued = asyncio.run(reference.seed_ceiling_party(ctx))
    data_dir = ctx.data_dir("ceiling")
    connections = reference.connections_for(ctx)
    seconds = 3.0 if ctx.quick else ctx.duration
    rounds = 1 if ctx.quick else 2
    details: dict[str, Any] = {
        "queued_songs": queued,
        "members": 10,
        "workers": ctx.workers,
        "connections": connections,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "placement": ctx.where(),
    }
    if not loadgen.wrk_path():
        ctx.notes.append(loadgen.WRK_INSTALL_HINT + "; scenario 1 used the Python load generator")
    warning = busy_warning()
    if warning:
        details["warning"] = warning
    runs: dict[str, list[dict[str, Any]]] = {"real": [], "bare": [], "plain": []}
    with reference.bench_server(ctx, data_dir) as server:
        document = reference.fetch_document(server, tok, data_dir)
        with reference.plain_app(ctx, data_dir) as plain:
            details["response_bytes"] = len(document)
            plain_body = httpx.get(plain.base_url + BARE, timeout=10).content
            details["same_bytes"] = reference.same_bytes(server, document) and (
                plain_body == document
            )
            targets = {"real": (server, REAL), "bare": (server, BARE), "plain": (plain, BARE)}
            # Warm-up: every worker loads its code paths, pools and the document.
            for target, path in targets.values():
                reference.measure(ctx, target, path, tok, 2, connections)
            for _ in range(rounds):
                for name, (target, path) in targets.items():
                    runs[name].append(
                        reference.measure(ctx, target, path, tok, seconds, connections)
                    )
    details["runs"] = runs
    ctx.reference = reference.record(ctx, runs["bare"], runs["plain"])
    real = reference.mean_of(runs["real"])
    bare = reference.mean_of(runs["bare"])
    plain_mean = reference.mean_of(runs["plain"])
    details["means"] = {"real": real, "bare": bare, "plain": plain_mean}
    return ScenarioResult(_rows(ctx, details, real, bare, plain_mean, runs), details)


def _rows(
    ctx: Context,
    details: dict[str, Any],
    real: dict[str, float],
    bare: dict[str, float],
    plain: dict[str, float],
    runs: dict[str, list[dict[str, Any]]],
) -> list[Row]:
    throughput = ratio(real["rps"], bare["rps"])
    snapshot_cpu = ratio(real["server_cpu_ms"] + real["postgres_cpu_ms"], bare["server_cpu_ms"])
    middleware_cpu = ratio(bare["server_cpu_ms"], plain["server_cpu_ms"])
    middleware_rps = ratio(plain["rps"], bare["rps"])
    details.update(
        ratio=round(throughput, 3),
        snapshot_cpu_ratio=round(snapshot_cpu, 2),
        middleware_cpu_ratio=round(middleware_cpu, 2),
        middleware_rps_ratio=round(middleware_rps, 2),
    )
    errors = sum(r["errors"] + r.get("non_2xx", 0) for rs in runs.values() for r in rs)
    generator = runs["real"][0]["generator"].split()[0]
    name = f"1 ceiling ({ctx.workers}w, {generator})"

    def cpu(route: dict[str, float]) -> str:
        return f"{route['server_cpu_ms']:.2f} ms srv + {route['postgres_cpu_ms']:.2f} ms pg"

    return [
        Row(name, "GET /sessions/current req/s, CPU/request", f"{real['rps']:,.0f}, {cpu(real)}"),
        Row(name, "bare /bench/current req/s, CPU/request", f"{bare['rps']:,.0f}, {cpu(bare)}"),
        Row(name, "plain FastAPI app req/s, CPU/request", f"{plain['rps']:,.0f}, {cpu(plain)}"),
        Row(
            name,
            "snapshot: (srv+pg CPU)/request vs bare srv CPU",
            f"{snapshot_cpu:.1f}x",
            f"<= {TARGET_SNAPSHOT_CPU}x",
            snapshot_cpu <= TARGET_SNAPSHOT_CPU,
        ),
        Row(
            name,
            "snapshot: req/s vs bare (ceiling ratio)",
            f"{throughput:.2f}",
            f">= {TARGET_RATIO}",
            throughput >= TARGET_RATIO,
        ),
        Row(
            name,
            "middleware: bare srv CPU/request vs plain app",
            f"{middleware_cpu:.2f}x",
            f"<= {TARGET_MIDDLEWARE}x",
            middleware_cpu <= TARGET_MIDDLEWARE,
        ),
        Row(
            name,
            "middleware: plain app req/s vs bare",
            f"{middleware_rps:.2f}x",
            f"<= {TARGET_MIDDLEWARE}x",
            middleware_rps <= TARGET_MIDDLEWARE,
        ),
        Row(
            name,
            "errors, same bytes (real, bare, plain)",
            f"{errors}, {details['same_bytes']}",
            "0, True",
            errors == 0 and bool(details["same_bytes"]),
        ),
    ]
