"""One realtime frame serialised once, written to every socket as the same bytes.

A realtime event goes to every socket of a party, and its WebSocket frame is byte for byte
the same on each: a server's frames are not masked, and the server negotiates no extension
(per-message deflate is off, cli.py). Through the ASGI `send`, uvicorn builds the frame again
for every socket (websockets' sans-I/O protocol: a `Frame`, its serialisation, a join) before
the write; that was a third of a delivered frame's CPU (docs/BENCHMARKS.md, fan-out).

`FramedWebSocketProtocol` is uvicorn's own sans-I/O websockets protocol (the one `ws="auto"`
picks) with one addition: the ASGI scope's extension `queueit.frame_writer`, a callable
taking such bytes, that writes them to this socket's transport when a `send` would write at
once (the handshake done, the connection open and not closing, the transport not paused for
backpressure, no extension negotiated) and answers True; otherwise it writes nothing and
answers False, and the caller sends through ASGI as before (which waits out backpressure).
Nothing else changes: the handshake, reads, pings, closing and every other send are
uvicorn's. It knows no domain: bytes in, a yes or no out. Without it (another server, the
in-process test client) the extension is absent and every frame goes through ASGI.

It reads the protocol's `conn`, `writable`, `transport`, `handshake_complete`, `close_sent`
and `disconnected`: uvicorn's attributes, not a public API, so
tests/realtime/test_frame_writer.py checks on the installed uvicorn that frames written
either way arrive identical, in order, and that backpressure still goes through ASGI."""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

EXTENSION = "queueit.frame_writer"
# What write_frame reads of uvicorn's protocol; a uvicorn without one of them gets no writer.
_READS = ("conn", "writable", "transport", "handshake_complete", "close_sent", "disconnected")
WS_PROTOCOL_PATH = "queueit.core.ws_frames:FramedWebSocketProtocol"


def text_frame(payload: str) -> bytes:
    """The complete server-to-client WebSocket frame carrying `payload` as one text message."""
    return Frame(Opcode.TEXT, payload.encode()).serialize(mask=False)


class FramedWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None and all(hasattr(self, name) for name in _READS):
            # The ASGI task is only scheduled yet: it starts with the writer in its scope.
            scope["extensions"][EXTENSION] = self.write_frame

    def write_frame(self, frame: bytes) -> bool:
        """Write one pre-serialised frame now, if a `send` would write it now."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True
