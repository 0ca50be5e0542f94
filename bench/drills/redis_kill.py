"""Drill: Redis killed (SIGKILL) under load and started again 3 s later: a redis-server of our
own shared by two `queueit serve` processes (rate limits, search cache and the realtime
backplane all in it). Votes go through process A; one listener is connected to A, one to B.

Expected: the API keeps serving (every vote 200, none slow: rate limits fail open, publishes
are bounded); /readyz says `degraded` (200) while Redis is down; the listener on A misses
nothing (A delivers its own changes locally); the listener on B, cut off while Redis is down,
catches up by itself once it is back (a fresh snapshot, then events again)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import connect

from bench.drills.infra import RedisProcess, Voters, drill_database_url
from bench.harness import Server, asyncpg_dsn, base_settings, bearer, reset_database, token
from bench.seed import seed_party

LOAD_BEFORE = 3.0
DOWN_FOR = 3.0
LOAD_AFTER = 8.0
SLOW_SECONDS = 2.5


class Listener:
    """A member's socket following the protocol's gap rule (a version more than one above the
    last seen: ask for `resync`); every message is kept with its arrival time."""

    def __init__(self, base_url: str, session_id: uuid.UUID, user_id: uuid.UUID) -> None:
        port = base_url.rsplit(":", 1)[1]
        self.url = f"ws://127.0.0.1:{port}/api/v1/sessions/{session_id}/realtime"
        self.headers = bearer(token(user_id))
        self.messages: list[tuple[float, str, int]] = []
        self.closed_with: int | None = None
        self.task: asyncio.Task[None] | None = None
        self.resyncs_asked: list[float] = []

    async def start(self) -> None:
        ws = await connect(self.url, additional_headers=self.headers, open_timeout=20)
        first = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
        self.messages.append((time.monotonic(), first["event"], first["version"]))
        self.task = asyncio.create_task(self._read(ws))

    async def _read(self, ws: Any) -> None:
        last, asked = self.messages[0][2], False
        try:
            async for raw in ws:
                message = orjson.loads(raw)
                version = int(message["version"])
                self.messages.append((time.monotonic(), message["event"], version))
                if message["event"] == "session.snapshot":
                    last, asked = version, False
                elif version > last + 1 and not asked:
                    await ws.send(orjson.dumps({"type": "resync"}).decode())
                    self.resyncs_asked.append(time.monotonic())
                    asked = True
                else:
                    last = max(last, version)
        finally:
            self.closed_with = ws.close_code
            await ws.close()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def last_version(self) -> int:
        return max((v for _, _, v in self.messages), default=0)


def _uncovered(listener: Listener, final_version: int) -> list[int]:
    """The versions after the listener's first snapshot, up to `final_version`, that reached
    it neither as an event nor inside a later snapshot."""
    first = listener.messages[0][2]
    events = {v for _, name, v in listener.messages if name != "session.snapshot"}
    snapshots = [v for _, name, v in listener.messages[1:] if name == "session.snapshot"]
    newest_snapshot = max(snapshots, default=first)
    return [
        v for v in range(first + 1, final_version + 1) if v not in events and v > newest_snapshot
    ]


async def _readyz(base_url: str) -> tuple[int, str]:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{base_url}/readyz")
        return response.status_code, str(response.json().get("status"))


async def _drill(redis: RedisProcess, workdir: Path) -> dict[str, Any]:
    url = drill_database_url()
    await reset_database(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        party = await seed_party(conn, queued=300, members=12, votes_per_member=0, tag="rdrill")
    finally:
        await conn.close()
    shared = {
        "redis_url": redis.url,
        "rate_limit_enabled": "true",
        "realtime_redis_channel": f"queueit-drill:{uuid.uuid4().hex[:8]}",
    }
    first = Server(base_settings(url, workdir / "a", **shared), workdir=workdir / "a").start()
    second = Server(base_settings(url, workdir / "b", **shared), workdir=workdir / "b").start()
    try:
        on_a = Listener(first.base_url, party.session_id, party.member_ids[0])
        on_b = Listener(second.base_url, party.session_id, party.member_ids[1])
        await on_a.start()
        await on_b.start()
        # ~3 votes/s per member keeps under the per-user vote limit (5/s).
        voters = Voters(first.base_url, party.member_ids[2:], party.queued_ids, pause=0.3)
        load = asyncio.create_task(voters.run())
        await asyncio.sleep(LOAD_BEFORE)
        killed_at = time.monotonic()
        redis.kill()
        await asyncio.sleep(1.5)
        ready_down = await _readyz(first.base_url)
        await asyncio.sleep(DOWN_FOR - 1.5)
        redis.start()
        back_at = time.monotonic()
        await asyncio.sleep(LOAD_AFTER)
        voters.stop.set()
        await asyncio.wait_for(load, 30)
        await asyncio.sleep(2)  # the last events land
        ready_after = await _readyz(first.base_url)
        await on_a.stop()
        await on_b.stop()
    finally:
        codes = first.stop(), second.stop()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        final_version = int(
            await conn.fetchval("SELECT version FROM sessions WHERE id = $1", party.session_id)
        )
    finally:
        await conn.close()

    records = voters.records
    failed = [r for r in records if r.status != 200]
    slowest = max((r.latency for r in records), default=0.0)
    a_votes = [m for m in on_a.messages if m[1] == "votes.updated"]
    b_after = [m for m in on_b.messages if m[0] >= back_at]
    b_during = [m for m in on_b.messages if killed_at + 0.5 <= m[0] < back_at]
    b_resync = [m for m in b_after if m[1] == "session.snapshot"]
    b_events_after = [m for m in b_after if m[1] == "votes.updated"]
    recovered_in = min((m[0] for m in b_after), default=None)
    checks = {
        "every_vote_served": not failed,
        "no_slow_vote": slowest <= SLOW_SECONDS,
        "readyz_degraded_while_down": ready_down == (200, "degraded"),
        "readyz_ok_after": ready_after == (200, "ok"),
        # Every change reached it, as its event or inside a later snapshot: two votes'
        # events can be published in the opposite order of their commits (each publishes
        # after its own statement returns); the socket drops the older one as stale and the
        # client's gap rule asks for a snapshot that carries it (docs/API.md "Realtime").
        "listener_on_a_missed_nothing": not _uncovered(on_a, final_version)
        and on_a.last_version() == final_version,
        # Repaired by the server after its reconnect, or by the client's gap rule: either way
        # a fresh snapshot, then events again.
        "listener_on_b_resynced": bool(b_resync) and bool(b_events_after),
        "listener_on_b_caught_up": on_b.last_version() == final_version,
        "servers_exited_cleanly": codes == (0, 0),
    }
    return {
        "checks": checks,
        "votes_sent": len(records),
        "votes_failed": len(failed),
        "slowest_vote_ms": round(slowest * 1000, 1),
        "readyz_while_down": list(ready_down),
        "listener_a_votes_updated": len(a_votes),
        "listener_a_resyncs_asked": len(on_a.resyncs_asked),
        "listener_b_messages_while_down": len(b_during),
        "listener_b_snapshots_after": len(b_resync),
        "listener_b_resyncs_asked": len(on_b.resyncs_asked),
        "repaired_by_server_unasked": bool(b_resync) and not on_b.resyncs_asked,
        "listener_b_first_message_after_restart_s": (
            round(recovered_in - back_at, 2) if recovered_in is not None else None
        ),
        "final_version": final_version,
        "listener_b_last_version": on_b.last_version(),
    }


def run(workdir: Path) -> dict[str, Any]:
    redis = RedisProcess().start()
    try:
        return asyncio.run(_drill(redis, workdir))
    finally:
        redis.stop()
