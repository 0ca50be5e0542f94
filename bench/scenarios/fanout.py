"""Scenario 4, realtime fan-out, on `queueit serve` processes. Reuses bench/realtime_fanout.py
(the realtime engineer's benchmark: parties made through the API, WebSocket clients, its
single-party latency phase and its idle-memory phase) and adds what it does not cover yet:
many parties at once, and two server processes sharing Redis (clients on both, votes sent to
the first, so half of the deliveries cross Redis).

Latency is measured from the event's `ts` (stamped by the server right after the commit, same
machine clock) to its receipt by each client: the commit-to-screen delay a member sees."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import orjson

from bench import realtime_fanout as rt
from bench.common import Server, base_settings, busy_warning, latency_summary, truncate
from bench.context import Context, Row, ScenarioResult

TARGET_P99_200 = 50.0
TARGET_P99_1000 = 150.0
TARGET_KIB_PER_CONNECTION = 50.0


def _settings(ctx: Context, name: str, **extra: str) -> dict[str, str]:
    values = base_settings(ctx.database_url, ctx.data_dir(name), **extra)
    values["local_jwt_secret"] = rt.SECRET  # realtime_fanout mints its own tokens
    values["database_pool_size"] = "20"
    return values


async def _parties(
    http: httpx.AsyncClient, parties: int, members: int
) -> list[tuple[str, str, list[str], list[str]]]:
    """(session id, host token, member tokens, queued song ids) for each party."""
    made = []
    for _ in range(parties):
        session_id, host, tokens = await rt.make_party(http, members)
        songs = []
        for n in range(3):  # the first starts playing; two stay votable
            added = await http.post(
                "/api/v1/songs/add",
                json=rt.track(int(uuid.uuid4().int % 10**9) + n),
                headers=rt.headers(host),
            )
            added.raise_for_status()
            songs.append(added.json()["id"])
        made.append((session_id, host, tokens, songs[1:]))
    return made


async def multi_phase(
    senders: list[Server],
    receivers: list[Server],
    *,
    parties: int,
    members: int,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    """`parties` parties of `members` clients; clients connect round-robin to `receivers`;
    members vote (each a first +1, so every vote is a change) through `senders` at `rate`
    votes/s in total, open loop."""
    async with httpx.AsyncClient(base_url=senders[0].base_url, timeout=60) as http:
        made = await _parties(http, parties, members)
    sockets: list[tuple[Any, int]] = []  # (socket, receiver index)
    for session_id, _host, tokens, _songs in made:
        for n, receiver in enumerate(receivers):
            url = f"ws://127.0.0.1:{receiver.port}/api/v1/sessions/{session_id}/realtime"
            chunk = tokens[n :: len(receivers)]
            sockets.extend((ws, n) for ws in await rt.open_clients(url, chunk))
    delays: list[list[float]] = [[] for _ in receivers]
    received = [0]

    async def listen(ws: Any, receiver: int) -> None:
        async for raw in ws:
            wall = time.time()
            message = orjson.loads(raw)
            if message["event"] == "votes.updated":
                received[0] += 1
                sent_at = datetime.fromisoformat(message["ts"]).timestamp()
                delays[receiver].append((wall - sent_at) * 1000)

    listeners = [asyncio.create_task(listen(ws, n)) for ws, n in sockets]
    votes = max(1, int(rate * seconds))
    plan = []
    for k in range(votes):
        session_id, _host, tokens, songs = made[k % parties]
        turn = k // parties
        plan.append((songs[(turn // members) % len(songs)], tokens[turn % members]))
    statuses: dict[int, int] = {}
    clients = [httpx.AsyncClient(base_url=s.base_url, timeout=30) for s in senders]

    async def vote(k: int) -> None:
        song, tok = plan[k]
        response = await clients[k % len(clients)].post(
            f"/api/v1/songs/{song}/vote", json={"vote_value": 1}, headers=rt.headers(tok)
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    pending = []
    for k in range(votes):
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(vote(k)))
    await asyncio.gather(*pending)
    await asyncio.sleep(2)  # let the last events land
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    await rt.bounded(100, [ws.close() for ws, _ in sockets])
    for client in clients:
        await client.aclose()
    changed = statuses.get(200, 0)
    every = [d for per in delays for d in per]
    return {
        "parties": parties,
        "clients_per_party": members,
        "clients": len(sockets),
        "processes": len({s.port for s in [*senders, *receivers]}),
        "votes": votes,
        "statuses": {str(k): v for k, v in statuses.items()},
        "delivered": received[0],
        "expected": changed * members,
        **latency_summary(every),
        "per_receiver": [latency_summary(per) for per in delays],
    }


def _single(ctx: Context, clients: int, rate: float, seconds: float) -> dict[str, Any]:
    with Server(_settings(ctx, f"fanout-{clients}"), workdir=ctx.data_dir("fanout")) as server:
        phase = asyncio.run(rt.latency_phase(server, clients, rate, seconds))  # type: ignore[arg-type]
    return phase


def _guarded(rows: list[Row], label: str, phase: Any) -> dict[str, Any] | None:
    """Run one phase; a phase that fails becomes a failed row, not a lost scenario."""
    try:
        result: dict[str, Any] = phase()
    except Exception as exc:
        rows.append(Row("4 fan-out", label, f"failed: {type(exc).__name__}: {exc}"[:90], ok=False))
        return None
    return result


def run(ctx: Context) -> ScenarioResult:
    asyncio.run(truncate(ctx.database_url))
    seconds = 5.0 if ctx.quick else 15.0
    rate = 20.0
    idle = 200 if ctx.quick else 1000
    details: dict[str, Any] = {"rate_votes_per_second": rate, "seconds": seconds}
    warning = busy_warning()
    if warning:
        details["warning"] = warning
    rows: list[Row] = []

    # Votes/s per case: a busy party changes a few times a second; 20/s to 200 clients and
    # 5/s to 1,000 are 4,000 and 5,000 frames/s out of one process.
    cases = [(200, rate, TARGET_P99_200), (1000, 5.0, TARGET_P99_1000)]
    for clients, votes_per_s, target in cases[:1] if ctx.quick else cases:
        label = f"1 party x {clients} clients, 1 process, {votes_per_s:.0f} votes/s: p50/p99"
        phase = _guarded(rows, label, lambda c=clients, r=votes_per_s: _single(ctx, c, r, seconds))
        if phase is None:
            continue
        details[f"one_party_{clients}_one_process"] = phase
        p99 = phase["p99_ms_from_commit"]
        rows.append(
            Row(
                "4 fan-out",
                label,
                f"{phase['p50_ms_from_commit']:.1f}/{p99:.1f} ms "
                f"({phase['delivered']}/{phase['expected']} delivered)",
                f"p99 < {target:.0f} ms",
                p99 < target and phase["delivered"] == phase["expected"],
            )
        )

    def one_process() -> dict[str, Any]:
        with Server(_settings(ctx, "fanout-multi"), workdir=ctx.data_dir("fanout")) as server:
            return asyncio.run(
                multi_phase([server], [server], parties=50, members=20, rate=rate, seconds=seconds)
            )

    label = "50 parties x 20 clients, 1 process"
    phase = _guarded(rows, label, one_process)
    if phase is not None:
        details["parties_50x20_one_process"] = phase
        rows.append(_multi_row(label, phase))

    channel = f"queueit-bench:{uuid.uuid4().hex[:8]}"
    redis = {"redis_url": ctx.redis_url, "realtime_redis_channel": channel}

    def two_processes(parties: int, members: int) -> dict[str, Any]:
        with (
            Server(_settings(ctx, "fanout-a", **redis), workdir=ctx.data_dir("fanout")) as first,
            Server(_settings(ctx, "fanout-b", **redis), workdir=ctx.data_dir("fanout")) as second,
        ):
            return asyncio.run(
                multi_phase(
                    [first],
                    [first, second],
                    parties=parties,
                    members=members,
                    rate=rate,
                    seconds=seconds,
                )
            )

    for parties, members, target in ((1, 200, TARGET_P99_200), (50, 20, None)):
        label = f"{parties} parties x {members} clients, 2 processes + Redis"
        phase = _guarded(rows, label, lambda p=parties, m=members: two_processes(p, m))
        if phase is not None:
            details[f"parties_{parties}x{members}_two_processes_redis"] = phase
            rows.append(_multi_row(label, phase, target))

    def idle_memory() -> dict[str, Any]:
        with Server(_settings(ctx, "fanout-idle"), workdir=ctx.data_dir("fanout")) as server:
            return asyncio.run(rt.memory_phase(server, idle))  # type: ignore[arg-type]

    memory = _guarded(rows, "memory per idle connection", idle_memory)
    if memory is None:
        return ScenarioResult(rows, details)
    details["memory"] = memory
    kib = memory["kib_per_connection"]
    rows.append(
        Row(
            "4 fan-out",
            f"memory per idle connection ({memory['idle_connections']} idle)",
            f"{kib:.1f} KiB",
            f"<= {TARGET_KIB_PER_CONNECTION:.0f} KB",
            kib * 1.024 <= TARGET_KIB_PER_CONNECTION,
        )
    )
    return ScenarioResult(rows, details)


def _multi_row(label: str, phase: dict[str, Any], target: float | None = None) -> Row:
    complete = phase["delivered"] == phase["expected"]
    return Row(
        "4 fan-out",
        f"{label}: p50/p99",
        f"{phase['p50_ms']:.1f}/{phase['p99_ms']:.1f} ms "
        f"({phase['delivered']}/{phase['expected']} delivered)",
        f"p99 < {target:.0f} ms" if target else "all delivered",
        (phase["p99_ms"] < target if target else True) and complete,
    )
