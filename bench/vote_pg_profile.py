"""Where PostgreSQL's share of a vote goes (issue 17): the vote's one statement,
`queueit_rls.cast_vote` (migration 0009), called over one connection, with the backend's own
CPU time read from /proc before and after, in four configurations of the same database:

- as served: row-level security and the guard triggers on (what `queueit serve` runs);
- guard triggers off (`session_replication_role = replica` on this connection only);
- policies off (`ALTER TABLE ... DISABLE ROW LEVEL SECURITY` on every table that has them,
  for the run only, and back on after: never point this at a database in use);
- both off;

and `SELECT 1`, the floor of one round trip; and, for the calls as served, this process's own
CPU per call (`client_as_served`: what asyncpg costs the caller, the server's share of the
call's floor); and the WAL each vote writes (`wal_bytes_as_served`: what a vote costs the
disk, replication and vacuum, and the one figure here the machine's noise cannot move: it
halved when migration 0012 made a vote's updates heap-only). Each vote changes something (a
member's vote on one of the party's songs cast, then withdrawn), so every call writes and
commits.

`--batch K ...` measures the design that BENCHMARKS.md names for the vote's remaining cost,
without building it into the server: K votes of K different (member, song) pairs of one
party sent as ONE statement (`cast_vote` once per row of an `unnest`, as served: policies
and guards on, each call applying its own member's claims), so one round trip and one commit
carry K votes. Reported per vote: `batch_<K>` (PostgreSQL) and `client_batch_<K>` (this
process). Nothing in queueit sends votes this way.

    python -m bench.vote_pg_profile --database-url postgresql://postgres@127.0.0.1:5432/queueit_perf
        [--calls 1000]

It resets and seeds that database (a benchmark database only: the harness refuses `test`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness import asyncpg_dsn, reset_database
from bench.seed import seed_party

_CAST = "SELECT outcome FROM queueit_rls.cast_vote($1, $2, $3, $4, $5, $6, $7, $8)"
_CAST_MANY = (
    "SELECT (queueit_rls.cast_vote(c, u, true, s, $4, $5, $6, 0)).outcome"
    " FROM unnest($1::text[], $2::text[], $3::uuid[]) AS t(c, u, s)"
)


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _per_call_ms(
    conn: asyncpg.Connection[Any], calls: int, send: Any, client: dict[str, float] | None = None
) -> float:
    """The backend's CPU per call; with `client`, also this process's (the Python side of
    the call: asyncpg's encoding, the round trip's reads and writes, the decoding)."""
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    for i in range(50):  # warm: plans cached, pages in
        await send(i)
    before, ours = _backend_cpu(pid), time.process_time()
    for i in range(calls):
        await send(i)
    if client is not None:
        client["client_as_served"] = (time.process_time() - ours) / calls * 1000
    return (_backend_cpu(pid) - before) / calls * 1000


async def _wal_bytes_per_call(conn: asyncpg.Connection[Any], calls: int, send: Any) -> float:
    """The WAL PostgreSQL wrote per call (nothing else writes to the benchmark database)."""
    start = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
    for i in range(calls):
        await send(i)
    written = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)", start)
    return float(written) / calls


async def _rls_tables(conn: asyncpg.Connection[Any]) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relrowsecurity"
    )
    return [str(r[0]) for r in rows]


async def profile(url: str, calls: int, batches: tuple[int, ...] = ()) -> dict[str, float]:
    from queueit.core.rls import user_claims

    await reset_database(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        party = await seed_party(conn, queued=50, members=10, votes_per_member=0, tag="pgprof")
        member = party.member_ids[0]
        songs = party.queued_ids[:10]
        claims = json.dumps(user_claims(member, is_anonymous=True))

        async def vote(i: int) -> None:
            now = datetime.now(UTC)
            value = 1 if (i // len(songs)) % 2 == 0 else None  # cast a round, withdraw a round
            song = songs[i % len(songs)]
            outcome = await conn.fetchval(
                _CAST, claims, str(member), True, song, value, now, now - timedelta(days=1), 0
            )
            assert outcome in ("cast", "unchanged"), outcome

        async def floor(_i: int) -> None:
            await conn.fetchval("SELECT 1")

        results = {"select_1": await _per_call_ms(conn, calls, floor)}
        client: dict[str, float] = {}
        results["as_served"] = await _per_call_ms(conn, calls, vote, client)
        client["wal_bytes_as_served"] = await _wal_bytes_per_call(conn, calls, vote)
        await conn.execute("SET session_replication_role = replica")
        results["guard_triggers_off"] = await _per_call_ms(conn, calls, vote)
        await conn.execute("RESET session_replication_role")
        tables = await _rls_tables(conn)
        try:
            for table in tables:
                await conn.execute(f'ALTER TABLE public."{table}" DISABLE ROW LEVEL SECURITY')
            results["policies_off"] = await _per_call_ms(conn, calls, vote)
            await conn.execute("SET session_replication_role = replica")
            results["both_off"] = await _per_call_ms(conn, calls, vote)
            await conn.execute("RESET session_replication_role")
        finally:
            for table in tables:
                await conn.execute(f'ALTER TABLE public."{table}" ENABLE ROW LEVEL SECURITY')
        pairs = [(m, s) for s in party.queued_ids[:10] for m in party.member_ids[:10]]
        for size in batches:
            if len(pairs) % size:
                raise SystemExit(f"--batch {size}: must divide {len(pairs)}")

            async def many(i: int, size: int = size) -> None:
                start = (i * size) % len(pairs)
                chunk = pairs[start : start + size]
                value = 1 if (i * size // len(pairs)) % 2 == 0 else None
                now = datetime.now(UTC)
                outcomes = await conn.fetch(
                    _CAST_MANY,
                    [json.dumps(user_claims(m, is_anonymous=True)) for m, _ in chunk],
                    [str(m) for m, _ in chunk],
                    [s for _, s in chunk],
                    value,
                    now,
                    now - timedelta(days=1),
                )
                assert all(r[0] in ("cast", "unchanged") for r in outcomes), outcomes

            calls_of_batch = max(calls // size, 20)
            ours: dict[str, float] = {}
            per_batch = await _per_call_ms(conn, calls_of_batch, many, ours)
            results[f"batch_{size}"] = per_batch / size
            client[f"client_batch_{size}"] = ours["client_as_served"] / size
        return {**results, **client}
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument(
        "--batch", type=int, nargs="*", default=[], help="votes per statement (divides 100)"
    )
    args = parser.parse_args()
    results = asyncio.run(profile(args.database_url, args.calls, tuple(args.batch)))
    for name, ms in results.items():
        if name.startswith("wal_bytes"):
            print(f"{name:20s} {ms:6.0f} bytes of WAL per call")
            continue
        side = "this client's" if name.startswith("client") else "PostgreSQL"
        unit = "vote" if "batch" in name else "call"
        print(f"{name:20s} {ms:6.3f} ms of {side} CPU per {unit}")


if __name__ == "__main__":
    main()
