"""Scenario 2, the write path, in two phases on one server:

- closed loop: 100 voters (10 parties x 10 members) each sending their next vote as soon as
  the last one is answered, for a bounded time: the capacity (votes/s), CPU per vote (as a
  ratio to the run's bare route, `bench.reference`) and each voter's share (fairness);
- open loop at half that capacity: votes leave on a fixed schedule whatever the answers do;
  p99 from the scheduled time and the count of 503s (issue 17: p99 < 50 ms, zero 503).

Every vote changes a total (none -> +1 -> -1 -> +1 ...), so every one is a real write that
bumps the party's version and publishes `votes.updated`. Afterwards the totals are checked
against what was confirmed, in the database (every vote row, every denormalised total) and
through the API (GET /sessions/current of each party)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from bench import loadgen, reference
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
from bench.stats import fairness, latency_summary

PARTIES = 10
VOTERS_PER_PARTY = 10
SONGS_PER_PARTY = 50
TARGET_RATE = 1000.0
TARGET_P99_MS = 50.0  # open loop, at half the measured capacity
TARGET_CPU_RATIO = 4.0  # (server + PostgreSQL CPU) per vote / the bare route's server CPU
TARGET_FAIRNESS = 0.5  # closed loop: the least-served voter gets >= half the median share
_NEXT = {None: 1, 1: -1, -1: 1}


@dataclass
class Voter:
    user_id: uuid.UUID
    headers: dict[str, str]
    songs: list[uuid.UUID]
    sent: int = 0
    answered: int = 0  # 200s in the closed loop: this voter's share
    # The value the server confirmed last, per song (what the database must hold).
    confirmed: dict[uuid.UUID, int] = field(default_factory=dict)


async def seed(ctx: Context) -> list[Party]:
    await truncate(ctx.database_url)
    conn = await asyncpg.connect(asyncpg_dsn(ctx.database_url))
    try:
        parties = [
            await seed_party(
                conn,
                queued=SONGS_PER_PARTY,
                members=VOTERS_PER_PARTY,
                votes_per_member=0,
                seed=n,
                tag=f"votes-{n}",
            )
            for n in range(PARTIES)
        ]
        await analyze(conn)
    finally:
        await conn.close()
    return parties


def voters_of(parties: list[Party]) -> list[Voter]:
    voters = []
    for party in parties:
        for n, uid in enumerate(party.member_ids):
            # Each member walks the queue from a different place: concurrent votes of one
            # party land on different songs, as in a real party.
            offset = n * SONGS_PER_PARTY // VOTERS_PER_PARTY
            songs = party.queued_ids[offset:] + party.queued_ids[:offset]
            voters.append(Voter(uid, bearer(token(uid)), songs))
    return voters


async def verify(
    ctx: Context, server: Server, parties: list[Party], voters: list[Voter]
) -> dict[str, Any]:
    """Every confirmed vote is in the database with its value, every total is the sum of its
    votes, and the API shows the same totals."""
    expected_votes = {
        (song, v.user_id): value for v in voters for song, value in v.confirmed.items()
    }
    expected_totals: dict[uuid.UUID, int] = {}
    for (song, _user), value in expected_votes.items():
        expected_totals[song] = expected_totals.get(song, 0) + value
    conn = await asyncpg.connect(asyncpg_dsn(ctx.database_url))
    try:
        rows = await conn.fetch("SELECT queued_song_id, user_id, value FROM votes")
        totals = await conn.fetch(
            "SELECT q.id, q.votes, COALESCE(SUM(v.value), 0) AS summed FROM queued_songs q "
            "LEFT JOIN votes v ON v.queued_song_id = q.id WHERE q.status = 'queued' "
            "GROUP BY q.id, q.votes"
        )
    finally:
        await conn.close()
    in_db = {(r["queued_song_id"], r["user_id"]): r["value"] for r in rows}
    vote_mismatches = sum(1 for key, value in expected_votes.items() if in_db.get(key) != value)
    unexpected_rows = sum(1 for key in in_db if key not in expected_votes)
    total_mismatches = sum(
        1
        for r in totals
        if r["votes"] != r["summed"] or r["votes"] != expected_totals.get(r["id"], 0)
    )
    api_mismatches = 0
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        for party in parties:
            body = (
                await http.get("/api/v1/sessions/current", headers=bearer(token(party.host_id)))
            ).json()
            for item in body["queue"]:
                if item["votes"] != expected_totals.get(uuid.UUID(item["id"]), 0):
                    api_mismatches += 1
    return {
        "confirmed_votes": len(expected_votes),
        "vote_rows_in_db": len(in_db),
        "vote_mismatches": vote_mismatches,
        "unexpected_vote_rows": unexpected_rows,
        "total_mismatches": total_mismatches,
        "api_total_mismatches": api_mismatches,
        "ok": vote_mismatches == unexpected_rows == total_mismatches == api_mismatches == 0,
    }


async def heap_only_share(ctx: Context) -> dict[str, float]:
    """The share of each table's updates that PostgreSQL made heap-only (HOT: no index
    touched; migration 0012), read once the server's connections closed (a backend reports
    its counts when it exits)."""
    await asyncio.sleep(0.5)
    conn = await asyncpg.connect(asyncpg_dsn(ctx.database_url))
    try:
        rows = await conn.fetch(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname IN ('sessions', 'queued_songs', 'votes', 'users') ORDER BY relname"
        )
    finally:
        await conn.close()
    return {
        r["relname"]: round(r["n_tup_hot_upd"] / r["n_tup_upd"], 3) for r in rows if r["n_tup_upd"]
    }


def next_vote(voters: list[Voter], index: int) -> loadgen.Request:
    """Voter `index`'s next vote: the next song of its walk, changing its confirmed value."""
    voter = voters[index]
    song = voter.songs[voter.sent % len(voter.songs)]
    voter.sent += 1
    value = _NEXT[voter.confirmed.get(song)]
    body = json.dumps({"vote_value": value}).encode()
    return loadgen.Request(
        "POST", f"/api/v1/songs/{song}/vote", voter.headers, body, (index, song, value)
    )


def open_load(
    server: Server, voters: list[Voter], rate: float, seconds: float, slow: list[float]
) -> loadgen.LoadResult:
    """Votes at `rate`/s, voter k % len(voters) each time (a voter's votes are 1/rate x
    len(voters) apart, so one voter never races itself on a song). `slow` gets the scheduled
    time (perf_counter) of every vote answered later than the p99 target."""

    def on_outcome(outcome: loadgen.Outcome) -> None:
        index, song, value = outcome.tag
        if outcome.status == 200:
            voters[index].confirmed[song] = value
        if outcome.latency_ms >= TARGET_P99_MS:
            slow.append(outcome.started)

    return loadgen.run(
        loadgen.open_loop(
            server.base_url,
            rate=rate,
            duration=seconds,
            next_request=lambda k: next_vote(voters, k % len(voters)),
            on_outcome=on_outcome,
        )
    )


def load(server: Server, voters: list[Voter], seconds: float) -> loadgen.LoadResult:
    def next_request(index: int) -> loadgen.Request:
        return next_vote(voters, index)

    def on_outcome(outcome: loadgen.Outcome) -> None:
        index, song, value = outcome.tag
        if outcome.status == 200:
            voters[index].confirmed[song] = value
            voters[index].answered += 1

    return loadgen.run(
        loadgen.closed_loop(
            server.base_url,
            connections=len(voters),
            next_request=next_request,
            on_outcome=on_outcome,
            duration=seconds,
        )
    )


def _measured(
    ctx: Context, server: Server, phase: Any, *args: Any
) -> tuple[loadgen.LoadResult, dict[str, float]]:
    """One phase with CPU accounting: server, PostgreSQL and this load generator, per vote."""
    meter = CpuMeter(server.pids, database_name(ctx.database_url))
    client_cpu = time.process_time()
    result: loadgen.LoadResult = phase(server, *args)
    client_cpu = time.process_time() - client_cpu
    server_cpu, pg_cpu = meter.stop()
    ok = max(1, result.statuses.get(200, 0))
    return result, {
        "server_cpu_ms_per_vote": round(server_cpu * 1000 / ok, 3),
        "postgres_cpu_ms_per_vote": round(pg_cpu * 1000 / ok, 3),
        "load_generator_cpu_ms_per_vote": round(client_cpu * 1000 / ok, 3),
    }


def run(ctx: Context) -> ScenarioResult:
    yardstick = reference.ensure(ctx)
    parties = asyncio.run(seed(ctx))
    voters = voters_of(parties)
    seconds = 3.0 if ctx.quick else max(ctx.duration, 10.0)
    data_dir = ctx.data_dir("votes")
    details: dict[str, Any] = {
        "parties": PARTIES,
        "voters": len(voters),
        "songs_per_party": SONGS_PER_PARTY,
        "workers": ctx.workers,
        "seconds": seconds,
        "placement": ctx.where(),
        "generator": "python (closed loop, one keep-alive connection per voter; then open loop)",
    }
    warning = busy_warning()
    if warning:
        details["warning"] = warning
    settings = base_settings(ctx.database_url, data_dir)
    with Server(settings, workers=ctx.workers, workdir=data_dir, cpus=ctx.server_cpus) as server:
        closed, closed_cpu = _measured(ctx, server, load, voters, seconds)
        capacity = closed.statuses.get(200, 0) / closed.seconds if closed.seconds else 0.0
        offered = ctx.open_rate or max(1.0, capacity / 2)
        slow: list[float] = []
        opened, open_cpu = _measured(ctx, server, open_load, voters, offered, seconds, slow)
        check = asyncio.run(verify(ctx, server, parties, voters))
    heap_only = asyncio.run(heap_only_share(ctx))
    share = fairness([v.answered for v in voters])
    bare_cpu = yardstick["bare"]["server_cpu_ms"]
    cpu_ratio = reference.ratio(
        closed_cpu["server_cpu_ms_per_vote"] + closed_cpu["postgres_cpu_ms_per_vote"], bare_cpu
    )
    details.update(
        closed_loop={
            "votes_ok": closed.statuses.get(200, 0),
            "statuses": {str(k): v for k, v in sorted(closed.statuses.items())},
            "votes_per_second": round(capacity, 1),
            "latency": latency_summary(closed.latencies_ms),
            "fairness": share,
            **closed_cpu,
        },
        open_loop={
            "offered_votes_per_second": round(offered, 1),
            "sent": opened.requests,
            "statuses": {str(k): v for k, v in sorted(opened.statuses.items())},
            "latency_from_schedule": latency_summary(opened.latencies_ms),
            # Where the votes over the target fell: a few bursts (a stall: vacuum, a
            # checkpoint, a pause) or spread over the run (queueing).
            "over_target": _bursts(slow),
            **open_cpu,
        },
        bare_route_server_cpu_ms=bare_cpu,
        cpu_ratio_to_bare=round(cpu_ratio, 2),
        correctness=check,
        heap_only_update_share=heap_only,
    )
    return ScenarioResult(_rows(ctx, details, cpu_ratio), details)


def _bursts(times: list[float], gap: float = 0.1) -> dict[str, Any]:
    """The votes in `times` (scheduled times, s) grouped into bursts: runs of votes less
    than `gap` apart. How many, how long the longest lasted, and the votes in each."""
    bursts: list[list[float]] = []
    for t in sorted(times):
        if bursts and t - bursts[-1][-1] < gap:
            bursts[-1].append(t)
        else:
            bursts.append([t])
    return {
        "votes": len(times),
        "bursts": len(bursts),
        "longest_burst_ms": round(max(((b[-1] - b[0]) * 1000 for b in bursts), default=0.0), 1),
        "votes_per_burst": [len(b) for b in bursts][:50],
        # Wall-clock start of each burst, to hold against PostgreSQL's log.
        "burst_starts_utc": [_utc(b[0]) for b in bursts][:50],
    }


def _utc(perf: float) -> str:
    """A perf_counter() reading as UTC wall-clock time."""
    wall = time.time() - (time.perf_counter() - perf)
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


def _rows(ctx: Context, details: dict[str, Any], cpu_ratio: float) -> list[Row]:
    closed, opened = details["closed_loop"], details["open_loop"]
    name = f"2 votes ({ctx.workers}w)"
    rate, share = closed["votes_per_second"], closed["fairness"]
    closed_failed = sum(v for k, v in closed["statuses"].items() if k != "200")
    p99 = opened["latency_from_schedule"]["p99_ms"]
    refused = opened["statuses"].get("503", 0)
    open_failed = sum(v for k, v in opened["statuses"].items() if k != "200")
    return [
        Row(
            name,
            "closed loop votes/s (100 voters, 10 parties)",
            f"{rate:,.0f}",
            f">= {TARGET_RATE:,.0f}",
            rate >= TARGET_RATE,
        ),
        Row(
            name,
            "closed loop p50/p99 (queueing: no target)",
            f"{closed['latency']['p50_ms']:.1f}/{closed['latency']['p99_ms']:.1f} ms",
        ),
        Row(
            name,
            "CPU/vote: srv + pg vs bare srv CPU",
            f"{cpu_ratio:.1f}x ({closed['server_cpu_ms_per_vote']:.2f} + "
            f"{closed['postgres_cpu_ms_per_vote']:.2f} ms)",
            f"<= {TARGET_CPU_RATIO:.0f}x",
            cpu_ratio <= TARGET_CPU_RATIO,
        ),
        Row(
            name,
            "fairness: per-voter share min/median",
            f"{share['min_over_median']:.2f} ({share['min']}/{share['median']:.0f})",
            f">= {TARGET_FAIRNESS}",
            share["min_over_median"] >= TARGET_FAIRNESS,
        ),
        Row(name, "closed loop failed votes", str(closed_failed), "0", closed_failed == 0),
        Row(
            name,
            "open loop p99 at " + ("--open-rate" if ctx.open_rate else "half capacity"),
            f"{p99:.1f} ms at {opened['offered_votes_per_second']:.0f}/s",
            f"< {TARGET_P99_MS:.0f} ms",
            p99 < TARGET_P99_MS,
        ),
        Row(
            name,
            "open loop 503s, other failures",
            f"{refused}, {open_failed - refused} of {opened['sent']}",
            "0, 0",
            open_failed == 0,
        ),
        Row(
            name,
            "totals match votes confirmed (DB + API)",
            "yes" if details["correctness"]["ok"] else "NO (see details)",
            "yes",
            bool(details["correctness"]["ok"]),
        ),
        Row(
            name,
            "heap-only (HOT) share of updates: sessions, queued_songs",
            ", ".join(
                f"{details['heap_only_update_share'].get(t, 0):.2f}"
                for t in ("sessions", "queued_songs")
            ),
        ),
    ]
