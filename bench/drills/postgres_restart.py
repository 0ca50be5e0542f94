"""Drill: PostgreSQL restarted under load (a throwaway cluster of our own, stopped with
`pg_ctl -m immediate`, i.e. as if it crashed, and started again 3 s later).

Expected: while it is down, requests fail fast with 503 `database_unavailable` (no hang, no
500); the app recovers by itself once PostgreSQL is back (no restart); every vote that got
200 is in the database; the host's `song_finished` retries never advance twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench.drills.infra import PgCluster, Voters, migrate, totals_consistent, votes_in_db
from bench.harness import Server, asyncpg_dsn, base_settings, bearer, token
from bench.seed import seed_party

LOAD_BEFORE = 3.0
DOWN_FOR = 3.0
LOAD_AFTER = 6.0
# Failures must come back within DATABASE_TIMEOUT_SECONDS (5 s, the default): no hang.
FAIL_FAST_SECONDS = 5.0


async def _host_loop(base_url: str, host: uuid.UUID, stop: asyncio.Event) -> dict[str, Any]:
    """The host's player: finish the current song, retrying the same id until it gets 200."""
    sent: set[str] = set()
    confirmed: list[str] = []
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(
        base_url=base_url, headers=bearer(token(host, anonymous=False)), timeout=15
    ) as http:
        current: str | None = None
        while not stop.is_set():
            try:
                if current is None:
                    response = await http.get("/api/v1/sessions/current")
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code == 200:
                        song = response.json()["current_song"]
                        current = song["id"] if song else None
                else:
                    sent.add(current)
                    response = await http.post(
                        "/api/v1/sessions/song_finished", json={"queued_song_id": current}
                    )
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code == 200:
                        confirmed.append(current)
                        current = None
            except httpx.HTTPError:
                statuses[0] = statuses.get(0, 0) + 1
            await asyncio.sleep(0.25)
    return {"sent": sent, "confirmed": confirmed, "statuses": statuses}


async def _drill(cluster: PgCluster, workdir: Any) -> dict[str, Any]:
    url = cluster.url
    await migrate(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        party = await seed_party(conn, queued=400, members=20, votes_per_member=0, tag="pgdrill")
    finally:
        await conn.close()
    settings = base_settings(url, workdir)
    server = Server(settings, workdir=workdir).start()
    try:
        voters = Voters(server.base_url, party.member_ids, party.queued_ids, pause=0.02)
        host_stop = asyncio.Event()
        load = asyncio.create_task(voters.run())
        host = asyncio.create_task(_host_loop(server.base_url, party.host_id, host_stop))
        await asyncio.sleep(LOAD_BEFORE)
        down_at = time.monotonic()
        await asyncio.to_thread(cluster.stop, "immediate")
        await asyncio.sleep(DOWN_FOR)
        await asyncio.to_thread(cluster.start)
        up_at = time.monotonic()
        await asyncio.sleep(LOAD_AFTER)
        voters.stop.set()
        host_stop.set()
        await asyncio.wait_for(load, 30)
        host_result = await asyncio.wait_for(host, 30)
        server_alive = server.proc is not None and server.proc.poll() is None
    finally:
        exit_code = server.stop()

    records = voters.records
    during = [r for r in records if down_at <= r.sent_at < up_at]
    # 409 song_not_votable is the API working: the host advanced past a song being voted on.
    failed = [r for r in records if r.status not in (200, 409)]
    after_up = [r for r in records if r.sent_at >= up_at and r.status == 200]
    first_ok_after = min((r.sent_at + r.latency for r in after_up), default=None)
    in_db = await votes_in_db(url)
    confirmed = [r for r in records if r.status == 200]
    lost = [r for r in confirmed if in_db.get((r.song_id, r.user_id)) != r.value]
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        played = {
            str(row["id"])
            for row in await conn.fetch(
                "SELECT id FROM queued_songs WHERE status = 'played' AND session_id = $1",
                party.session_id,
            )
        }
        playing = await conn.fetchval(
            "SELECT count(*) FROM queued_songs WHERE status = 'playing' AND session_id = $1",
            party.session_id,
        )
    finally:
        await conn.close()
    consistent = await totals_consistent(url)
    unasked = sorted(played - host_result["sent"])
    failure_codes = sorted({(r.status, r.code) for r in failed})
    slowest_failure = max((r.latency for r in failed), default=0.0)
    checks = {
        "failures_are_503_database_unavailable": all(
            r.status == 503 and r.code == "database_unavailable" for r in failed
        ),
        "failures_are_fast": slowest_failure <= FAIL_FAST_SECONDS,
        "outage_was_seen": any(r.status != 200 for r in during),
        "recovered_without_restart": server_alive and first_ok_after is not None,
        "no_confirmed_vote_lost": not lost,
        "totals_match_vote_rows": consistent,
        "no_duplicate_advance": not unasked and playing <= 1,
        "server_exited_cleanly": exit_code == 0,
    }
    return {
        "checks": checks,
        "votes_sent": len(records),
        "votes_ok": len(confirmed),
        "votes_failed": len(failed),
        "failure_codes": [f"{status} {code}" for status, code in failure_codes],
        "slowest_failure_ms": round(slowest_failure * 1000, 1),
        "outage_seconds": round(up_at - down_at, 2),
        "recovered_seconds_after_start": (
            round(first_ok_after - up_at, 2) if first_ok_after is not None else None
        ),
        "confirmed_votes_missing": len(lost),
        "advances_confirmed": len(host_result["confirmed"]),
        "songs_played": len(played),
        "host_statuses": {str(k): v for k, v in host_result["statuses"].items()},
    }


def run(workdir: Any) -> dict[str, Any]:
    cluster = PgCluster().init()
    try:
        cluster.start()
        return asyncio.run(_drill(cluster, workdir))
    finally:
        cluster.destroy()
