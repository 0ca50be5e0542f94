"""Heartbeats close dead sockets; shutting down closes live ones with 1001."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from tests.conftest import make_settings
from tests.realtime.harness import (
    ProcessServer,
    ThreadServer,
    bearer,
    close_code_of,
    open_ws,
    recv,
    start_party,
)


async def test_shutdown_closes_sockets_with_1001_and_exits_promptly(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    if backend != "sqlite":
        pytest.skip("covered on PostgreSQL by the multi-instance test")
    server = ProcessServer(make_settings(database_url, tmp_path / "data"), tmp_path / "server.log")
    try:
        await server.wait_ready()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
            party = await start_party(http)
        url = server.ws_url(party.session_id)
        sockets = [await open_ws(url, token=bearer(party.guest)) for _ in range(3)]
        for ws in sockets:
            await recv(ws)
        seconds = await asyncio.to_thread(server.terminate)
        assert [await close_code_of(ws) for ws in sockets] == [1001, 1001, 1001]
        assert seconds < 10
    finally:
        await asyncio.to_thread(server.terminate)


@pytest.mark.parametrize(
    "realtime_overrides",
    [{"realtime_ping_interval_seconds": 0.3, "realtime_ping_timeout_seconds": 0.3}],
)
async def test_a_client_that_stops_answering_pings_is_closed(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    party = await start_party(http)
    protocol = ClientProtocol(parse_uri(server.ws_url(party.session_id, "?token=")))
    request = protocol.connect()
    request.path += bearer(party.guest)
    protocol.send_request(request)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"".join(protocol.data_to_send()))  # the handshake, and never a pong
        frames: list[Frame] = []
        started = time.monotonic()
        while data := await asyncio.wait_for(reader.read(65536), timeout=10):
            protocol.receive_data(data)
            frames += [event for event in protocol.events_received() if isinstance(event, Frame)]
        assert frames[0].opcode == Opcode.TEXT  # the snapshot
        assert any(frame.opcode == Opcode.PING for frame in frames)
        assert protocol.close_rcvd is not None
        assert protocol.close_rcvd.code == 1011  # keepalive ping timeout
        assert time.monotonic() - started < 5
        await asyncio.sleep(0.2)
        assert server.state.realtime.hub.connections() == []
    finally:
        writer.close()
        await writer.wait_closed()
