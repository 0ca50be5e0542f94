"""Drill: SIGTERM under load. Thirty members vote as fast as they can in one party while five
votes of another party are held in flight (a transaction of our own locks that party's row,
so the five wait inside the server); then the server gets SIGTERM, and 1.5 s later the lock
is released.

Expected: the five in-flight votes complete with 200; no request gets a 5xx; every vote that
got 200 is in the database; the process stops accepting connections and exits 0 within its
graceful-shutdown timeout (10 s)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.drills.infra import Voters, drill_database_url, votes_in_db
from bench.harness import Server, asyncpg_dsn, base_settings, bearer, reset_database, token
from bench.seed import seed_party

LOAD_BEFORE = 3.0
HOLD_AFTER_SIGTERM = 1.5
EXIT_WITHIN = 15.0


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


async def _drill(workdir: Path) -> dict[str, Any]:
    url = drill_database_url()
    await reset_database(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        busy = await seed_party(conn, queued=400, members=30, votes_per_member=0, tag="sigbusy")
        held = await seed_party(conn, queued=10, members=5, votes_per_member=0, tag="sighold")
    finally:
        await conn.close()
    server = Server(base_settings(url, workdir), workdir=workdir).start()
    locker = await asyncpg.connect(asyncpg_dsn(url))
    try:
        voters = Voters(server.base_url, busy.member_ids, busy.queued_ids)
        load = asyncio.create_task(voters.run())
        await asyncio.sleep(LOAD_BEFORE)
        # Hold the second party's row: its votes wait inside the server (in flight).
        lock = locker.transaction()
        await lock.start()
        await locker.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", held.session_id)
        clients = [httpx.AsyncClient(base_url=server.base_url, timeout=30) for _ in range(5)]
        held_votes = [
            asyncio.create_task(
                client.post(
                    f"/api/v1/songs/{song}/vote",
                    json={"vote_value": 1},
                    headers=bearer(token(member)),
                )
            )
            for client, member, song in zip(clients, held.member_ids, held.queued_ids, strict=False)
        ]
        await asyncio.sleep(1.0)
        in_flight_before = sum(1 for task in held_votes if not task.done())
        term_at = time.monotonic()
        server.signal(signal.SIGTERM)
        await asyncio.sleep(HOLD_AFTER_SIGTERM)
        accepting_after_term = _accepts(server.port)
        await lock.commit()
        held_statuses: list[int] = []
        for task in held_votes:
            try:
                held_statuses.append((await asyncio.wait_for(task, 20)).status_code)
            except (httpx.HTTPError, TimeoutError):
                held_statuses.append(0)
        assert server.proc is not None
        exit_code = await asyncio.to_thread(server.proc.wait, EXIT_WITHIN)
        exited_after = time.monotonic() - term_at
        voters.stop.set()
        await asyncio.wait_for(load, 30)
        for client in clients:
            await client.aclose()
    finally:
        await locker.close()
        server.stop()

    records = voters.records
    in_db = await votes_in_db(url)
    confirmed = [r for r in records if r.status == 200]
    lost = [r for r in confirmed if in_db.get((r.song_id, r.user_id)) != r.value]
    held_in_db = sum(
        1
        for member, song in zip(held.member_ids, held.queued_ids, strict=False)
        if in_db.get((song, member)) == 1
    )
    server_errors = [r for r in records if r.status >= 500]
    exited_at = term_at + exited_after
    cut = [r for r in records if r.status == 0 and term_at <= r.sent_at < exited_at]
    checks = {
        "held_votes_were_in_flight": in_flight_before == len(held_votes),
        "in_flight_votes_completed": held_statuses == [200] * len(held_votes),
        "in_flight_votes_committed": held_in_db == len(held_votes),
        "stopped_accepting": not accepting_after_term,
        "no_5xx": not server_errors,
        "no_confirmed_vote_lost": not lost,
        "exited_0_in_time": exit_code == 0 and exited_after <= EXIT_WITHIN,
    }
    return {
        "checks": checks,
        "votes_sent": len(records),
        "votes_ok": len(confirmed),
        "votes_refused_during_shutdown": len(cut),
        "held_statuses": held_statuses,
        "exit_code": exit_code,
        "exited_seconds_after_sigterm": round(exited_after, 2),
    }


def run(workdir: Path) -> dict[str, Any]:
    return asyncio.run(_drill(workdir))
