"""The frame writer (core/ws_frames.py) on the installed uvicorn: an event's frame, serialised
once, reaches every socket whole and in order; a frame the writer declines goes through the
ASGI send and still arrives in order; a refused handshake leaves the server serving. (The
slow-consumer tests run on the same protocol: backpressure still goes through ASGI.)"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from queueit.core import ws_frames
from tests.factories import track
from tests.realtime.harness import ThreadServer, bearer, join, open_ws, recv, start_party

LISTENERS = 5
ADDS = 4


def test_a_text_frame_parses_back_as_one_unmasked_text_message() -> None:
    payload = '{"event":"votes.updated","data":{"name":"Sigur Rós ✓"}}' + "x" * 300
    reader = StreamReader()
    reader.feed_data(ws_frames.text_frame(payload))
    reader.feed_eof()
    parsing = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as parsed:
        next(parsing)
    frame: Frame = parsed.value.value
    assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, payload)
    assert reader.at_eof()  # nothing after the one frame


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What the server's frame writers answered, call by call (patched before any socket
    opens: each binds the writer as it connects)."""
    answers: list[bool] = []
    write = ws_frames.FramedWebSocketProtocol.write_frame

    def counted(self: ws_frames.FramedWebSocketProtocol, frame: bytes) -> bool:
        answer = write(self, frame)
        answers.append(answer)
        return answer

    monkeypatch.setattr(ws_frames.FramedWebSocketProtocol, "write_frame", counted)
    return answers


async def _versions_after_adds(server: ThreadServer, http: httpx.AsyncClient) -> list[list[int]]:
    """LISTENERS sockets in one party, ADDS songs added by the host: the versions of the
    events each socket got after its snapshot."""
    party = await start_party(http)
    members = [await join(http, party) for _ in range(LISTENERS)]
    url = server.ws_url(party.session_id)
    sockets = [await open_ws(url, token=bearer(member)) for member in members]
    try:
        starts = [(await recv(ws))["version"] for ws in sockets]  # the snapshots
        for n in range(ADDS):
            added = await http.post("/api/v1/songs/add", json=track(n), headers=party.host)
            assert added.status_code == 200, added.text
        final = (await http.get("/api/v1/sessions/current", headers=party.host)).json()
        target = final["session"]["version"]
        seen: list[list[int]] = []
        for ws, start in zip(sockets, starts, strict=True):
            versions: list[int] = []
            while not versions or versions[-1] < target - start:
                message: dict[str, Any] = await recv(ws)
                assert message["session_id"] == party.session_id
                versions.append(message["version"] - start)
            seen.append(versions)
        return seen
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


async def test_event_frames_go_through_the_writer_whole_and_in_order(
    server: ThreadServer, http: httpx.AsyncClient, writes: list[bool]
) -> None:
    seen = await _versions_after_adds(server, http)
    # Every socket got every change once, in order (events of one version may be several).
    for versions in seen:
        assert versions == sorted(versions) and set(versions) == set(range(1, versions[-1] + 1))
    assert len(writes) >= LISTENERS * ADDS and all(writes)  # written by the writer


async def test_a_frame_the_writer_declines_goes_through_asgi(
    server: ThreadServer,
    http: httpx.AsyncClient,
    writes: list[bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    declined: list[bytes] = []

    def decline(self: ws_frames.FramedWebSocketProtocol, frame: bytes) -> bool:
        declined.append(frame)
        return False  # as when the transport is paused for backpressure

    monkeypatch.setattr(ws_frames.FramedWebSocketProtocol, "write_frame", decline)
    seen = await _versions_after_adds(server, http)
    for versions in seen:
        assert versions == sorted(versions) and set(versions) == set(range(1, versions[-1] + 1))
    assert len(declined) >= LISTENERS * ADDS and not writes


async def test_a_refused_handshake_leaves_the_server_serving(
    server: ThreadServer, http: httpx.AsyncClient
) -> None:
    """An upgrade uvicorn refuses (no Sec-WebSocket-Key) has no scope for the writer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /api/v1/sessions/x/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.startswith(b"HTTP/1.1 400")
    party = await start_party(http)
    async with await open_ws(server.ws_url(party.session_id), token=bearer(party.guest)) as ws:
        assert (await recv(ws))["event"] == "session.snapshot"
