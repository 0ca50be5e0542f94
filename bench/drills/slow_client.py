"""Drill: a realtime client that stops reading, on `queueit serve` with default settings
(but for a long keepalive, so only the buffer rule can drop it). The stalled client reads
its snapshot and nothing more (a 4 KiB receive buffer, a one-message
client queue); twenty listeners of the same party read normally; the host adds songs with
long names, so every change is a large `queue.updated` frame.

Expected: the listeners get every change, promptly, while the stalled client is stalled; the
server drops the stalled client by itself (its buffer overflowed: 1013) instead of buffering
without bound; once the stalled client reads again it finds the close after its backlog."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.drills.infra import drill_database_url
from bench.harness import Server, asyncpg_dsn, base_settings, bearer, reset_database, token
from bench.seed import seed_party
from bench.stats import latency_summary

LISTENERS = 20
MAX_ADDS = 500
LONG = "x" * 480
LISTENER_P99_MS = 250.0


def _track(n: int) -> dict[str, Any]:
    """Added tracks carry the catalog's text: long ones come from `_long_catalog`."""
    return {"id": f"local:slow-{n}", "source": "local"}


def _long_catalog(workdir: Path) -> str:
    """An operator catalog of MAX_ADDS tracks with long names (big queue.updated frames)."""
    path = workdir / "slow-catalog.json"
    rows = [
        {"id": f"slow-{n}", "title": f"{n} {LONG}", "artists": LONG, "album": LONG}
        for n in range(MAX_ADDS)
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return str(path)


async def _open(url: str, tok: str, **kwargs: Any) -> ClientConnection:
    ws = await connect(
        url,
        additional_headers=bearer(tok),
        open_timeout=20,
        close_timeout=5,
        compression=None,
        max_size=2**24,
        **kwargs,
    )
    return ws


async def _stalled(port: int, url: str, tok: str) -> ClientConnection:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    # No keepalive of its own: unread pongs would make the client give up first on a slow run.
    return await _open(url, tok, sock=sock, max_queue=1, ping_interval=None)


def _server_events(server: Server, user_id: str) -> dict[str, dict[str, Any]]:
    """The server's own log lines about this user's sockets (LOG_LEVEL=INFO), by event."""
    found: dict[str, dict[str, Any]] = {}
    for line in server.log_tail(100_000).splitlines():
        if user_id not in line or '"realtime_' not in line:
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if record.get("user_id") == user_id:
            found[str(record.get("event"))] = record
    return found


async def _drill(workdir: Path) -> dict[str, Any]:
    url = drill_database_url()
    await reset_database(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        party = await seed_party(
            conn, queued=0, members=LISTENERS + 1, votes_per_member=0, tag="slowdrill"
        )
    finally:
        await conn.close()
    # INFO: the server's own account of the drop (realtime_client_too_slow) is in its log.
    # The protocol keepalive (a ping unanswered for 20 + 20 s) is the other way a stalled
    # client is dropped; on a slow machine it would race the buffer rule this drill checks.
    settings = base_settings(
        url,
        workdir,
        log_level="INFO",
        local_catalog_path=_long_catalog(workdir),
        realtime_ping_interval_seconds="600",
    )
    server = Server(settings, workdir=workdir).start()
    ws_url = f"ws://127.0.0.1:{server.port}/api/v1/sessions/{party.session_id}/realtime"
    delays: list[float] = []
    counts = [0] * LISTENERS

    async def listen(index: int, ws: ClientConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message["event"] == "queue.updated":
                counts[index] += 1
                sent = datetime.fromisoformat(message["ts"]).timestamp()
                delays.append((time.time() - sent) * 1000)

    try:
        listeners = [await _open(ws_url, token(uid)) for uid in party.member_ids[:LISTENERS]]
        for ws in listeners:
            await asyncio.wait_for(ws.recv(), 20)  # snapshot
        stalled = str(party.member_ids[LISTENERS])
        slow = await _stalled(server.port, ws_url, token(party.member_ids[LISTENERS]))
        await asyncio.wait_for(slow.recv(), 20)  # snapshot, then it stops reading
        readers = [asyncio.create_task(listen(n, ws)) for n, ws in enumerate(listeners)]
        host = bearer(token(party.host_id, anonymous=False))
        added = 0
        dropped_after: int | None = None
        rss_before = server.rss_kib()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            started = time.monotonic()
            for n in range(MAX_ADDS):
                response = await http.post("/api/v1/songs/add", json=_track(n), headers=host)
                response.raise_for_status()
                added += 1
                if n % 10 == 9 and "realtime_client_too_slow" in _server_events(server, stalled):
                    dropped_after = added
                    break
            flood_seconds = time.monotonic() - started
            rss_peak = server.rss_kib()
        # The server gives up on the close frame after REALTIME_CLOSE_TIMEOUT_SECONDS (5).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if "realtime_disconnected" in _server_events(server, stalled):
                break
            await asyncio.sleep(0.25)
        events = _server_events(server, stalled)
        # The stalled client reads again: its backlog, then the close.
        backlog = 0
        try:
            while True:
                await asyncio.wait_for(slow.recv(), 15)
                backlog += 1
        except (ConnectionClosed, TimeoutError):
            pass
        slow_code = slow.close_code
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        listeners_open = sum(1 for ws in listeners if ws.close_code is None)
        await asyncio.gather(*(ws.close() for ws in [*listeners, slow]))
    finally:
        exit_code = server.stop()

    # The first add starts playing (now_playing + queue + session events); every later add
    # is one queue.updated: each listener must have them all.
    expected = added
    latency = latency_summary(delays)
    checks = {
        "listeners_got_every_change": all(c >= expected for c in counts),
        "listeners_not_delayed": latency["p99_ms"] <= LISTENER_P99_MS,
        "stalled_client_dropped_by_server": dropped_after is not None
        and events.get("realtime_disconnected", {}).get("code") == 1013,
        # 1013 when it reads again within the close timeout; after it the server has given up
        # on the close frame and cut the connection (1006 on the client).
        "stalled_client_connection_ended": slow_code in (1013, 1006),
        "listeners_still_connected": listeners_open == LISTENERS,
        "server_exited_cleanly": exit_code == 0,
    }
    return {
        "checks": checks,
        "adds": added,
        "dropped_after_adds": dropped_after,
        "flood_seconds": round(flood_seconds, 1),
        "listener_latency_ms": latency,
        "listener_min_received": min(counts),
        "stalled_backlog_frames": backlog,
        "stalled_close_code": slow_code,
        "server_buffered_when_dropped": events.get("realtime_client_too_slow", {}).get("buffered"),
        "server_connection_seconds": events.get("realtime_disconnected", {}).get("seconds"),
        "rss_growth_mib": round((rss_peak - rss_before) / 1024, 1),
    }


def run(workdir: Path) -> dict[str, Any]:
    return asyncio.run(_drill(workdir))
