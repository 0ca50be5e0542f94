"""A client that stops reading delays nobody and is dropped with 1013; one that pauses and
reads again within its buffer gets every frame, in order."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.conftest import make_settings
from tests.realtime.harness import (
    ThreadServer,
    bearer,
    drain_until_closed,
    join,
    open_ws,
    recv,
    start_party,
)

LISTENERS = 50
SONGS = 30
LONG = "x" * 480  # big queue.updated frames fill the stalled socket's buffers quickly


def long_catalog(path: Path) -> str:
    """An operator catalog of tracks with long names (added tracks are the catalog's)."""
    rows = [
        {
            "id": f"slow-{n}",
            "title": f"{n} {LONG}",
            "artists": LONG,
            "album": LONG,
            "duration_ms": 200_000,
        }
        for n in range(SONGS)
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return str(path)


def _running(database_url: str, tmp_path: Path, **overrides: Any) -> Iterator[ThreadServer]:
    settings = make_settings(
        database_url,
        tmp_path / "data",
        local_catalog_path=long_catalog(tmp_path / "long.json"),
        **overrides,
    )
    running = ThreadServer(settings).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ThreadServer]:
    yield from _running(
        database_url, tmp_path, realtime_buffer_size=8, realtime_close_timeout_seconds=60
    )


@pytest.fixture
async def http(server: ThreadServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as client:
        yield client


@pytest.fixture
def roomy_server(database_url: str, tmp_path: Path) -> Iterator[ThreadServer]:
    """Buffers room enough for every frame of the test: a paused client is never dropped."""
    yield from _running(database_url, tmp_path, realtime_buffer_size=256)


async def stalled_client(server: ThreadServer, session_id: str, token: str) -> ClientConnection:
    """A client that reads its snapshot, then nothing. A tiny receive buffer, a one-message
    queue and the server's small-send-buffer port make it back up after a few hundred KB
    (the listeners keep ordinary buffers)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.slow_port))
    url = server.ws_url(session_id, port=server.slow_port)
    return await open_ws(url, token=token, sock=sock, max_queue=1)


async def test_slow_client_is_dropped_without_delaying_others(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    members = [await join(http, party) for _ in range(LISTENERS)]
    url = server.ws_url(party.session_id)
    listeners = [await open_ws(url, token=bearer(member)) for member in members]
    slow = await stalled_client(server, party.session_id, bearer(party.guest))
    try:
        base = [(await recv(ws))["version"] for ws in listeners]
        assert (await recv(slow))["event"] == "session.snapshot"

        received: list[list[dict[str, Any]]] = [[] for _ in listeners]
        readers = [
            asyncio.create_task(_collect(ws, out))
            for ws, out in zip(listeners, received, strict=True)
        ]
        for n in range(SONGS):
            song = {"source": "local", "id": f"local:slow-{n}"}
            added = await http.post("/api/v1/songs/add", json=song, headers=party.host)
            assert added.status_code == 200, added.text
        # Every listener gets every change (autoplay is 3 events, then one per add) ...
        expected = 3 + (SONGS - 1)
        await asyncio.wait_for(_until_all(received, expected), timeout=30)
        for start, messages in zip(base, received, strict=True):
            assert [m["version"] - start for m in messages[2:]] == list(range(1, SONGS + 1))
        # ... while the stalled client was dropped: once it reads again it finds 1013 after
        # whatever was already on its way.
        backlog = await drain_until_closed(slow, timeout=30)
        assert slow.close_code == 1013
        assert len(backlog) < expected
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        # Nobody else was dropped.
        assert all(ws.close_code is None for ws in listeners)
    finally:
        await asyncio.gather(*(ws.close() for ws in [*listeners, slow]))


async def test_paused_client_gets_every_frame_in_order(roomy_server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=roomy_server.base_url, timeout=15) as http:
        party = await start_party(http)
        paused = await stalled_client(roomy_server, party.session_id, bearer(party.guest))
        try:
            start = (await recv(paused))["version"]
            for n in range(SONGS):  # far more than its socket buffers hold: the rest waits
                song = {"source": "local", "id": f"local:slow-{n}"}
                added = await http.post("/api/v1/songs/add", json=song, headers=party.host)
                assert added.status_code == 200, added.text
            messages = [await recv(paused, timeout=30) for _ in range(3 + (SONGS - 1))]
            assert [m["version"] - start for m in messages[2:]] == list(range(1, SONGS + 1))
            assert [m["event"] for m in messages[3:]] == ["queue.updated"] * (SONGS - 1)
            assert paused.close_code is None
        finally:
            await paused.close()


async def _collect(ws: ClientConnection, out: list[dict[str, Any]]) -> None:
    while True:
        out.append(await recv(ws, timeout=60))


async def _until_all(received: list[list[dict[str, Any]]], count: int) -> None:
    while any(len(messages) < count for messages in received):
        await asyncio.sleep(0.05)
