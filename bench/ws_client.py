"""A WebSocket client cheap enough to hold 1,000 sockets on one core: a bare asyncio Protocol
that does the opening handshake, answers pings, and hands every text frame's payload (bytes)
to a callback from `data_received`, with no task, queue or frame object per socket.

Why not the `websockets` client: receiving 5,000 frames/s over 1,000 sockets through it (one
reader task per socket, its frame parser and message assembler) took most of the load
generator's core, so the latency measured was partly the client's own (bench/README.md).
Only what a benchmark needs: no fragmentation (the server sends none), no extensions."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable

_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA

OnFrame = Callable[[bytes], None]


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked frame (RFC 6455 5.3: every client frame is masked) of < 126 bytes."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


class RawClient(asyncio.Protocol):
    def __init__(self, request: bytes, on_frame: OnFrame | None = None) -> None:
        self._request = request
        self.on_frame = on_frame
        self._early: list[bytes] = []  # frames after the first, before `listen`
        self._buffer = bytearray()
        self._upgraded = False
        self._transport: asyncio.Transport | None = None
        self.first_frame: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("connection lost"))
        if not self.closed.done():
            self.closed.set_result(1006)

    def _fail(self, exc: Exception) -> None:
        if not self.first_frame.done():
            self.first_frame.set_exception(exc)
            self.first_frame.exception()  # retrieved: no "never retrieved" warning

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status:
                self._fail(ConnectionError(status.decode("latin-1")))
                if self._transport is not None:
                    self._transport.close()
                return
            self._upgraded = True
            del buffer[: end + 4]
        start, size = 0, len(buffer)
        while size - start >= 2:
            opcode, length, offset = buffer[start] & 0x0F, buffer[start + 1] & 0x7F, start + 2
            if length == 126:
                if size - start < 4:
                    break
                length, offset = int.from_bytes(buffer[offset : offset + 2]), offset + 2
            elif length == 127:
                if size - start < 10:
                    break
                length, offset = int.from_bytes(buffer[offset : offset + 8]), offset + 8
            if size < offset + length:
                break
            payload = bytes(buffer[offset : offset + length])
            start = offset + length
            self._frame(opcode, payload)
        del buffer[:start]

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == _TEXT:
            if not self.first_frame.done():
                self.first_frame.set_result(payload)
            elif self.on_frame is not None:
                self.on_frame(payload)
            else:
                self._early.append(payload)
        elif opcode == _PING and self._transport is not None:
            self._transport.write(_client_frame(_PONG, payload))
        elif opcode == _CLOSE:
            code = int.from_bytes(payload[:2]) if len(payload) >= 2 else 1005
            self._fail(ConnectionError(f"closed with {code}"))
            if not self.closed.done():
                self.closed.set_result(code)
            self.close()

    def listen(self, on_frame: OnFrame) -> None:
        """Hand every later text frame to `on_frame` (those already received first)."""
        self.on_frame = on_frame
        early, self._early = self._early, []
        for payload in early:
            on_frame(payload)

    def close(self) -> None:
        """Send a close frame (1000) and drop the connection."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(_client_frame(_CLOSE, (1000).to_bytes(2)))
            self._transport.close()


async def connect(
    port: int, path: str, *, headers: dict[str, str], timeout: float = 60
) -> tuple[RawClient, bytes]:
    """Open a socket to 127.0.0.1:`port` and wait for its first text frame (the snapshot)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: RawClient(request), "127.0.0.1", port), timeout
    )
    first = await asyncio.wait_for(asyncio.shield(client.first_frame), timeout)
    return client, first
