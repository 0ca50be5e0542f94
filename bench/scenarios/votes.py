"""Scenario 2, the write path: 100 voters (10 parties x 10 members) each sending their next
vote as soon as the last one is answered, for a bounded time. Every vote changes a total
(none -> +1 -> -1 -> +1 ...), so every one is a real write that bumps the party's version and
publishes `votes.updated`. Afterwards the totals are checked against what was sent, in the
database (every vote row, every denormalised total) and through the API (GET
/sessions/current of each party)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench import loadgen
from bench.context import Context, Row, ScenarioResult
from bench.harness import Server, asyncpg_dsn, base_settings, bearer, token, truncate
from bench.procfs import CpuMeter, busy_warning
from bench.seed import Party, analyze, seed_party
from bench.stats import latency_summary

PARTIES = 10
VOTERS_PER_PARTY = 10
SONGS_PER_PARTY = 50
TARGET_RATE = 1000.0
TARGET_P99_MS = 50.0
_NEXT = {None: 1, 1: -1, -1: 1}


@dataclass
class Voter:
    user_id: uuid.UUID
    headers: dict[str, str]
    songs: list[uuid.UUID]
    sent: int = 0
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


def load(server: Server, voters: list[Voter], seconds: float) -> loadgen.LoadResult:
    def next_request(index: int) -> loadgen.Request:
        voter = voters[index]
        song = voter.songs[voter.sent % len(voter.songs)]
        voter.sent += 1
        value = _NEXT[voter.confirmed.get(song)]
        body = json.dumps({"vote_value": value}).encode()
        return loadgen.Request(
            "POST", f"/api/v1/songs/{song}/vote", voter.headers, body, (index, song, value)
        )

    def on_outcome(outcome: loadgen.Outcome) -> None:
        index, song, value = outcome.tag
        if outcome.status == 200:
            voters[index].confirmed[song] = value

    return loadgen.run(
        loadgen.closed_loop(
            server.base_url,
            connections=len(voters),
            next_request=next_request,
            on_outcome=on_outcome,
            duration=seconds,
        )
    )


def run(ctx: Context) -> ScenarioResult:
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
        "generator": "python (closed loop, one keep-alive connection per voter)",
    }
    warning = busy_warning()
    if warning:
        details["warning"] = warning
    settings = base_settings(ctx.database_url, data_dir)
    with Server(settings, workers=ctx.workers, workdir=data_dir) as server:
        meter = CpuMeter(server.pids)
        client_cpu = time.process_time()
        result = load(server, voters, seconds)
        client_cpu = time.process_time() - client_cpu
        server_cpu, pg_cpu = meter.stop()
        check = asyncio.run(verify(ctx, server, parties, voters))
    ok_votes = result.statuses.get(200, 0)
    rate = ok_votes / result.seconds if result.seconds else 0.0
    latency = latency_summary(result.latencies_ms)
    details.update(
        votes_ok=ok_votes,
        statuses={str(k): v for k, v in sorted(result.statuses.items())},
        votes_per_second=round(rate, 1),
        latency=latency,
        server_cpu_ms_per_vote=round(server_cpu * 1000 / max(1, ok_votes), 3),
        postgres_cpu_ms_per_vote=round(pg_cpu * 1000 / max(1, ok_votes), 3),
        load_generator_cpu_ms_per_vote=round(client_cpu * 1000 / max(1, ok_votes), 3),
        correctness=check,
    )
    name = f"2 votes ({ctx.workers}w)"
    failed = sum(v for k, v in result.statuses.items() if k != 200)
    return ScenarioResult(
        [
            Row(
                name,
                "votes/s (100 voters, 10 parties)",
                f"{rate:,.0f}",
                f">= {TARGET_RATE:,.0f}",
                rate >= TARGET_RATE,
            ),
            Row(
                name,
                "vote p99",
                f"{latency['p99_ms']:.1f} ms",
                f"< {TARGET_P99_MS:.0f} ms",
                latency["p99_ms"] < TARGET_P99_MS,
            ),
            Row(name, "vote p50", f"{latency['p50_ms']:.1f} ms"),
            Row(name, "failed votes", str(failed), "0", failed == 0),
            Row(
                name,
                "totals match votes sent (DB + API)",
                "yes" if check["ok"] else "NO (see details)",
                "yes",
                bool(check["ok"]),
            ),
        ],
        details,
    )
