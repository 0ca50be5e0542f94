"""Scenario 3, queue-size scaling: GET /api/v1/sessions/current (default page: 100 songs) and
a vote, in parties whose queues hold 10, 100, 1,000 and 5,000 songs (seeded straight into the
database; the queue cap only limits adds). Latency comes from the real server; the number of
SQL statements per request is counted in-process, on the same database, with SQLAlchemy
event hooks (statements, plus the transactions and pool pre-pings around them), and the
read-model hit's one statement where it is sent to asyncpg. In-process means this checkout's
code, so a BENCH_SRC run counts nothing (the table says so)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import asyncpg
import httpx

from bench import loadgen
from bench.context import Context, Row, ScenarioResult
from bench.harness import (
    Server,
    asyncpg_dsn,
    base_settings,
    bearer,
    database_name,
    token,
    truncate,
)
from bench.procfs import CpuMeter, busy_warning
from bench.seed import Party, analyze, seed_party
from bench.stats import latency_summary

SIZES = (10, 100, 1000, 5000)
PAGE = 100  # the default queue_limit of GET /sessions/current
MEMBERS = 10
VOTES_PER_MEMBER = 10


async def seed(ctx: Context, sizes: tuple[int, ...]) -> dict[int, Party]:
    await truncate(ctx.database_url)
    conn = await asyncpg.connect(asyncpg_dsn(ctx.database_url))
    try:
        parties = {
            size: await seed_party(
                conn,
                queued=size,
                members=MEMBERS,
                votes_per_member=VOTES_PER_MEMBER,
                seed=size,
                tag=f"scale-{size}",
            )
            for size in sizes
        }
        await analyze(conn)
    finally:
        await conn.close()
    return parties


def _vote_requests(party: Party, count: int) -> list[loadgen.Request]:
    """A member flipping their vote on songs in the middle of the queue (+1, -1, +1, ...);
    each is a real change."""
    member = party.member_ids[-1]
    middle = len(party.queued_ids) // 2
    songs = party.queued_ids[max(0, middle - 5) : middle + 5]
    headers = bearer(token(member))
    requests = []
    for n in range(count):
        song = songs[(n // 2) % len(songs)]
        value = 1 if n % 2 == 0 else -1
        body = json.dumps({"vote_value": value}).encode()
        requests.append(loadgen.Request("POST", f"/api/v1/songs/{song}/vote", headers, body))
    return requests


def _one_by_one(server: Server, requests: list[loadgen.Request]) -> loadgen.LoadResult:
    queue = iter(requests)
    return loadgen.run(
        loadgen.closed_loop(
            server.base_url, connections=1, next_request=lambda _w: next(queue, None)
        )
    )


def _latency(
    ctx: Context, server: Server, requests: list[loadgen.Request], warmup: int
) -> dict[str, Any]:
    """Requests one at a time on one keep-alive connection (latency, not throughput), and
    the server's and PostgreSQL's CPU per request after the warm-up (CPU moves less than
    latency when other jobs share the machine)."""
    _one_by_one(server, requests[:warmup])
    meter = CpuMeter(server.pids, database_name(ctx.database_url))
    result = _one_by_one(server, requests[warmup:])
    server_cpu, pg_cpu = meter.stop()
    count = max(1, result.requests)
    return {
        **latency_summary(result.latencies_ms),
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "cpu_ms": round((server_cpu + pg_cpu) * 1000 / count, 3),
        "server_cpu_ms": round(server_cpu * 1000 / count, 3),
        "postgres_cpu_ms": round(pg_cpu * 1000 / count, 3),
    }


async def count_statements(ctx: Context, parties: dict[int, Party]) -> dict[int, dict[str, Any]]:
    """SQL per request, in-process against the same database."""
    from sqlalchemy import event

    from queueit.core.settings import Settings
    from queueit.main import create_app

    settings = Settings(_env_file=None, **base_settings(ctx.database_url, ctx.data_dir("count")))
    app = create_app(settings)
    counts: dict[int, dict[str, Any]] = {}
    async with app.router.lifespan_context(app):
        engine = app.state.ctx.database.engine.sync_engine
        seen: dict[str, int] = {"statements": 0, "transactions": 0, "checkouts": 0}

        def on_execute(*_args: Any) -> None:
            seen["statements"] += 1

        def on_begin(*_args: Any) -> None:
            seen["transactions"] += 1

        def on_checkout(*_args: Any) -> None:
            seen["checkouts"] += 1

        # A read-model hit on PostgreSQL is one statement sent straight to asyncpg
        # (party/read_model_caller.py), past SQLAlchemy's hooks: counted where it is sent.
        fast_path = getattr(app.state.ctx, "fast_path", None)
        if fast_path is not None:
            send_caller_row = fast_path._caller_row

            async def counted_caller_row(*args: Any) -> Any:
                if counting:
                    seen["statements"] += 1
                return await send_caller_row(*args)

            fast_path._caller_row = counted_caller_row
        # ... and so is a vote's common case (party/vote_fast_path.py).
        vote_fast_path = getattr(app.state.ctx, "vote_fast_path", None)
        if vote_fast_path is not None:
            send_cast = vote_fast_path._cast

            async def counted_cast(*args: Any) -> Any:
                if counting:
                    seen["statements"] += 1
                return await send_cast(*args)

            vote_fast_path._cast = counted_cast
        counting = False

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def measure(
                method: str, path: str, headers: dict[str, str], bodies: list[Any]
            ) -> dict[str, int]:
                """The last request is counted; the ones before warm the caches (and make
                the counted vote a real change)."""
                for body in bodies[:-1]:
                    await http.request(method, path, headers=headers, json=body)
                event.listen(engine, "before_cursor_execute", on_execute)
                event.listen(engine, "begin", on_begin)
                event.listen(engine.pool, "checkout", on_checkout)
                for key in seen:
                    seen[key] = 0
                nonlocal counting
                counting = True
                try:
                    response = await http.request(method, path, headers=headers, json=bodies[-1])
                finally:
                    counting = False
                    event.remove(engine, "before_cursor_execute", on_execute)
                    event.remove(engine, "begin", on_begin)
                    event.remove(engine.pool, "checkout", on_checkout)
                response.raise_for_status()
                return dict(seen)

            for size, party in parties.items():
                headers = bearer(token(party.member_ids[0]))
                song = party.queued_ids[len(party.queued_ids) // 2]
                vote = f"/api/v1/songs/{song}/vote"
                counts[size] = {
                    "current": await measure(
                        "GET", "/api/v1/sessions/current", headers, [None, None]
                    ),
                    "vote": await measure(
                        "POST", vote, headers, [{"vote_value": 1}, {"vote_value": -1}]
                    ),
                }
    return counts


def run(ctx: Context) -> ScenarioResult:
    sizes = SIZES[:3] if ctx.quick else SIZES
    requests = 60 if ctx.quick else 300
    warmup = 20
    parties = asyncio.run(seed(ctx, sizes))
    data_dir = ctx.data_dir("scaling")
    details: dict[str, Any] = {"sizes": list(sizes), "page": PAGE, "requests_each": requests}
    warning = busy_warning()
    if warning:
        details["warning"] = warning
    per_size: dict[int, dict[str, Any]] = {}
    settings = base_settings(ctx.database_url, data_dir, max_queue_length="10000")
    with Server(settings, workers=1, workdir=data_dir, cpus=ctx.server_cpus) as server:
        for size, party in parties.items():
            get = loadgen.Request(
                "GET", "/api/v1/sessions/current", bearer(token(party.member_ids[0]))
            )
            body = httpx.get(server.base_url + get.path, headers=get.headers, timeout=10)
            body.raise_for_status()
            per_size[size] = {
                "queue_total": body.json()["queue_total"],
                "page_items": len(body.json()["queue"]),
                "response_bytes": len(body.content),
                "current": _latency(ctx, server, [get] * (requests + warmup), warmup),
                "vote": _latency(ctx, server, _vote_requests(party, requests + warmup), warmup),
            }
    # In-process counting runs this checkout's code: not another tree's (BENCH_SRC), whose
    # schema this code may refuse.
    counts = None if os.environ.get("BENCH_SRC") else asyncio.run(count_statements(ctx, parties))
    for size in sizes:
        per_size[size]["sql"] = counts[size] if counts else None
    details["per_size"] = {str(k): v for k, v in per_size.items()}

    smallest, largest = sizes[0], sizes[-1]
    rows: list[Row] = []
    for size in sizes:
        item = per_size[size]
        rows.append(
            Row(
                "3 scaling",
                f"queue {size:>5}: GET current p50/p99, vote p50/p99",
                f"{item['current']['p50_ms']:.1f}/{item['current']['p99_ms']:.1f} ms, "
                f"{item['vote']['p50_ms']:.1f}/{item['vote']['p99_ms']:.1f} ms",
            )
        )
    full_page = [s for s in sizes if s >= PAGE]
    if len(full_page) >= 2:
        growth = (
            per_size[largest]["current"]["p50_ms"] / per_size[full_page[0]]["current"]["p50_ms"]
        )
        rows.append(
            Row(
                "3 scaling",
                f"GET current p50, queue {largest} / queue {full_page[0]} (same page)",
                f"{growth:.2f}x",
                "<= 1.5x",
                growth <= 1.5,
            )
        )
    vote_growth = per_size[largest]["vote"]["p50_ms"] / per_size[smallest]["vote"]["p50_ms"]
    rows.append(
        Row(
            "3 scaling",
            f"vote p50, queue {largest} / queue {smallest}",
            f"{vote_growth:.2f}x",
            "<= 1.5x",
            vote_growth <= 1.5,
        )
    )
    rows.extend(_cpu_rows(per_size, smallest, largest, full_page))
    if counts is None:
        rows.append(
            Row("3 scaling", "SQL statements per GET current / vote", "not counted (BENCH_SRC)")
        )
        return ScenarioResult(rows, details)
    current_counts = {counts[s]["current"]["statements"] for s in sizes}
    vote_counts = {counts[s]["vote"]["statements"] for s in sizes}
    shown = "/".join(map(str, sorted(current_counts))), "/".join(map(str, sorted(vote_counts)))
    rows.append(
        Row(
            "3 scaling",
            "SQL statements per GET current / vote (all sizes)",
            f"{shown[0]} / {shown[1]}",
            "constant",
            len(current_counts) == 1 and len(vote_counts) == 1,
        )
    )
    return ScenarioResult(rows, details)


def _cpu_rows(
    per_size: dict[int, dict[str, Any]], smallest: int, largest: int, full_page: list[int]
) -> list[Row]:
    """Issue 17's queue-size target: server + PostgreSQL CPU per request stays flat."""
    rows = []
    pairs = [("current", full_page[0] if len(full_page) >= 2 else smallest), ("vote", smallest)]
    for kind, base in pairs:
        before, after = per_size[base][kind]["cpu_ms"], per_size[largest][kind]["cpu_ms"]
        growth = after / before if before else float("inf")
        rows.append(
            Row(
                "3 scaling",
                f"{'GET current' if kind == 'current' else 'vote'} CPU (srv+pg), "
                f"queue {largest} / queue {base}",
                f"{growth:.2f}x ({before:.2f} -> {after:.2f} ms)",
                "<= 1.5x",
                growth <= 1.5,
            )
        )
    return rows
