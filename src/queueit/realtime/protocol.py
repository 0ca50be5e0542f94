"""The wire format of the realtime socket: close codes, the message envelope, outgoing frames."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import orjson

from queueit.core.ws_frames import text_frame


class CloseCode(IntEnum):
    """Close codes a client can act on (API.md §5)."""

    GOING_AWAY = 1001  # server shutting down: reconnect (to another instance) with backoff
    POLICY = 1008  # message too large / too many messages
    INTERNAL = 1011  # unexpected server error
    TRY_AGAIN_LATER = 1013  # this client fell too far behind (or a dependency is down)
    AUTH_FAILED = 4401  # token missing, invalid or expired: refresh it, then reconnect
    NOT_MEMBER = 4403  # not (or no longer) a member of the session: do not reconnect
    NOT_FOUND = 4404  # session unknown or ended: do not reconnect
    # The host or a co-host removed (kicked or banned) this member: do not reconnect. A kicked
    # member may join again with the code; a banned one may not.
    REMOVED = 4410
    AUTH_TIMEOUT = 4408  # no token within the auth timeout
    # The same account opened more sockets than REALTIME_MAX_SOCKETS_PER_USER; this one was
    # the oldest. Do not reconnect on your own (that would close the next oldest): only when
    # the user brings this screen back.
    TOO_MANY_SOCKETS = 4429


# Control frames (sent to one socket; domain events are core.events.EventName).
SNAPSHOT = "session.snapshot"
PONG = "pong"
ERROR = "error"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def encode(
    event: str, party_id: uuid.UUID | str, version: int, ts: str, data: dict[str, Any]
) -> str:
    """One JSON text frame: `{"event","session_id","version","ts","data"}`."""
    envelope = {
        "event": event,
        "session_id": str(party_id),
        "version": version,
        "ts": ts,
        "data": data,
    }
    return orjson.dumps(envelope).decode()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame waiting in a socket's buffer. Event frames are built once per event and shared by
    every socket of the session; `control` frames (snapshot, pong, error) skip version checks,
    and a `snapshot` resets the socket's version."""

    version: int
    frame: str
    event: str = ""  # its name, for queueit_ws_messages_sent_total
    control: bool = False
    snapshot: bool = False
    close_code: int | None = None  # close the socket with this code once the frame is sent
    close_reason: str = ""
    # The ASGI message, built once and shared by every socket the frame goes to.
    message: dict[str, Any] = field(init=False, repr=False, compare=False)
    # An event frame's WebSocket frame bytes, serialised once for every socket's frame
    # writer (core/ws_frames.py); empty for control frames, which go one to a socket.
    wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", {"type": "websocket.send", "text": self.frame})
        object.__setattr__(self, "wire", b"" if self.control else text_frame(self.frame))
