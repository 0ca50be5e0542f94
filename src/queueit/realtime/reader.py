"""What a client may send once connected: ping, resync, and auth (a refreshed token).
Messages are capped in size and rate; breaking a cap closes the socket with 1008."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from queueit.core.security import MAX_TOKEN_BYTES
from queueit.realtime import admission
from queueit.realtime.connection import Connection
from queueit.realtime.protocol import ERROR, PONG, CloseCode, Outgoing, encode, now_iso
from queueit.realtime.source import Refused

if TYPE_CHECKING:
    from queueit.realtime.hub import Hub

log = structlog.get_logger(__name__)

# An `auth` message carries a token of up to MAX_TOKEN_BYTES, so it has a cap of its own.
AUTH_MESSAGE_MAX_BYTES = MAX_TOKEN_BYTES + 1024


class RateLimit:
    """At most `limit` messages in any `window` seconds on average (a token bucket that
    allows a burst of `limit`)."""

    __slots__ = ("_allowance", "_last", "_limit", "_rate")

    def __init__(self, limit: int, window: float) -> None:
        self._limit = float(limit)
        self._rate = limit / window
        self._allowance = float(limit)
        self._last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._allowance = min(self._limit, self._allowance + (now - self._last) * self._rate)
        self._last = now
        if self._allowance < 1.0:
            return False
        self._allowance -= 1.0
        return True


def size_of(message: Mapping[str, Any]) -> int:
    text = message.get("text")
    if text is not None:
        return len(text) if text.isascii() else len(text.encode())
    return len(message.get("bytes") or b"")


def parse(message: Mapping[str, Any], *, max_bytes: int) -> dict[str, Any] | None:
    """The JSON object in a text message (None when it is not one). Raises ValueError when the
    message is over `max_bytes` (or over the auth cap for an `auth` message)."""
    size = size_of(message)
    if size > AUTH_MESSAGE_MAX_BYTES:
        raise ValueError("message too large")
    text = message.get("text")
    if text is None:
        if size > max_bytes:
            raise ValueError("message too large")
        return None
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        if size > max_bytes:
            raise ValueError("message too large")
        return None
    if size > max_bytes and body.get("type") != "auth":
        raise ValueError("message too large")
    return body


def _control(conn: Connection, event: str, data: dict[str, Any]) -> None:
    version = conn.seen_version
    frame = encode(event, conn.party_id, version, now_iso(), data)
    conn.offer(Outgoing(version=version, frame=frame, event=event, control=True))


async def read_client_messages(hub: Hub, conn: Connection) -> None:
    """Serve the client's messages until it disconnects or breaks a cap."""
    settings = hub.settings
    limit = RateLimit(settings.realtime_rate_limit_messages, settings.realtime_rate_limit_seconds)
    websocket = conn.websocket
    while conn.close_code is None:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            conn.peer_closed()
            return
        if not limit.allow():
            conn.close(CloseCode.POLICY, "too many messages")
            return
        try:
            body = parse(message, max_bytes=settings.realtime_max_message_bytes)
        except ValueError:
            conn.close(CloseCode.POLICY, "message too large")
            return
        kind = body.get("type") if body is not None else None
        if kind == "ping":
            _control(conn, PONG, {})
        elif kind == "resync":
            await hub.resync(conn)
        elif kind == "auth":
            await _reauthenticate(hub, conn, body)
        else:
            _control(
                conn,
                ERROR,
                {"code": "unknown_message", "detail": 'Send {"type": "ping" | "resync" | "auth"}.'},
            )


async def _reauthenticate(hub: Hub, conn: Connection, body: dict[str, Any] | None) -> None:
    """A fresh token for the same user (a viewer: a fresh viewer token for the same party)
    moves the 4401 expiry deadline."""
    token = body.get("token") if body is not None else None
    if conn.viewer:
        _reauthenticate_viewer(hub, conn, token if isinstance(token, str) else "")
        return
    try:
        claims = await admission.verify_token(hub.verifier, token if isinstance(token, str) else "")
    except Refused as refused:
        conn.close(refused.code, refused.reason)
        return
    if claims.sub != conn.user_id:
        conn.close(CloseCode.AUTH_FAILED, "token is for another user")
        return
    conn.claims = claims
    hub.set_expiry(conn, claims.expires_at)
    log.info("realtime_reauthenticated", session_id=str(conn.party_id))


def _reauthenticate_viewer(hub: Hub, conn: Connection, token: str) -> None:
    expires_at = None
    try:
        if hub.viewers is not None:
            expires_at = hub.viewers.verify(token, party_id=conn.party_id)
    except Refused as refused:
        conn.close(refused.code, refused.reason)
        return
    if expires_at is None:
        conn.close(CloseCode.AUTH_FAILED, "not a viewer token")
        return
    hub.set_expiry(conn, expires_at)
    log.info("realtime_reauthenticated", session_id=str(conn.party_id), viewer=True)
