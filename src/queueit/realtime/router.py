"""WS /api/v1/sessions/{session_id}/realtime: live events for the members of a session."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

import structlog
from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from queueit.core.middleware import client_ip
from queueit.core.security import Claims
from queueit.core.settings import Environment, Settings
from queueit.realtime import admission, reader
from queueit.realtime.connection import Connection
from queueit.realtime.hub import Hub
from queueit.realtime.protocol import CloseCode
from queueit.realtime.runtime import Realtime
from queueit.realtime.source import Refused

log = structlog.get_logger(__name__)

router = APIRouter(tags=["realtime"])


@router.websocket("/sessions/{session_id}/realtime")
async def realtime(websocket: WebSocket, session_id: str) -> None:
    """Members receive `session.snapshot`, then every committed change of the session as JSON
    events. Authenticate with `Authorization: Bearer`, `?token=`, or a first
    `{"type": "auth", "token": ...}` message. A TV link's token opens the same stream read
    only (a viewer). See docs/REALTIME.md for the protocol."""
    realtime: Realtime | None = getattr(websocket.app.state, "realtime", None)
    settings: Settings = websocket.app.state.settings
    origin = websocket.headers.get("origin")
    if not origin_allowed(origin, settings, websocket.headers.get("host")):
        log.info("realtime_origin_refused", origin=origin)
        await websocket.close(code=CloseCode.POLICY)  # before accept: the handshake gets 403
        return
    if realtime is None or realtime.hub.closing:
        await websocket.accept()
        await _refuse(websocket, Refused(CloseCode.GOING_AWAY, "server shutting down"))
        return
    hub, gate = realtime.hub, realtime.gate
    address = client_ip(websocket.scope, settings.trusted_proxies)
    try:
        await gate.arrive(address)  # per-address caps, before any work for this socket
    except admission.Denied as denied:
        await _deny(websocket, denied)
        return
    try:
        await websocket.accept()
        token = await _receive_token(websocket, settings)
        if token is None:
            return  # the client left during authentication
        claims = viewer_claims(hub, token, session_id)
        viewer = claims is not None
        if claims is None:
            claims = await admission.verify_token(hub.verifier, token)
        target = _party_uuid(session_id)
        await admission.count_connect(realtime.limiter, claims)
    except Refused as refused:
        log.info("realtime_refused", code=refused.code, reason=refused.reason)
        await _refuse(websocket, refused)
        return
    finally:
        gate.depart(address)
    conn = hub.register(websocket, party_id=target, claims=claims, viewer=viewer)
    # A viewer's claims name the party (`sub`): a party's TV sockets share one cap.
    holder = admission.user_key(claims)
    try:
        # Counted once its snapshot is out (a refused socket, e.g. an old tab of a party the
        # user left, never closes a working one); may close this user's oldest socket (4429).
        await _serve(hub, conn, ready=lambda: gate.hold(holder, conn))
    finally:
        gate.release(holder, conn)
        hub.unregister(conn)


def origin_allowed(origin: str | None, settings: Settings, host: str | None = None) -> bool:
    """No Origin header (native apps): allowed. The server's own pages (the Origin's host is
    the Host the request was sent to): allowed. Otherwise the origin must be listed in
    ALLOWED_ORIGINS (or the list holds '*'); with an empty list any origin is allowed in
    development and test, and none in production."""
    if origin is None:
        return True
    if host and origin.split("://", 1)[-1].rstrip("/").lower() == host.lower():
        return True
    allowed = {item.rstrip("/").lower() for item in settings.allowed_origins}
    if "*" in allowed or origin.rstrip("/").lower() in allowed:
        return True
    return not allowed and settings.environment != Environment.production


async def _receive_token(websocket: WebSocket, settings: Settings) -> str | None:
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Refused(CloseCode.AUTH_FAILED, "authorization must be 'Bearer <token>'")
        return value.strip()
    query = websocket.query_params.get("token")
    if query:
        return query
    try:
        async with asyncio.timeout(settings.realtime_auth_timeout_seconds):
            message = await websocket.receive()
    except TimeoutError:
        raise Refused(CloseCode.AUTH_TIMEOUT, "no token in time") from None
    if message["type"] == "websocket.disconnect":
        return None
    try:
        body = reader.parse(message, max_bytes=settings.realtime_max_message_bytes)
    except ValueError:
        raise Refused(CloseCode.POLICY, "message too large") from None
    token = body.get("token") if body is not None and body.get("type") == "auth" else None
    if not isinstance(token, str):
        raise Refused(CloseCode.AUTH_FAILED, 'expected {"type": "auth", "token": ...}')
    return token


def viewer_claims(hub: Hub, token: str, session_id: str) -> Claims | None:
    """A viewer's claims when `token` is a valid viewer token (a TV link) for this party:
    `sub` is the party id, so per-user caps count a party's TV sockets together. None when it
    is no viewer token (the member path decides); Refused (4401) when it is a bad one."""
    if hub.viewers is None:
        return None
    try:
        party_id = uuid.UUID(session_id)
    except ValueError:
        return None
    expires_at = hub.viewers.verify(token, party_id=party_id)
    if expires_at is None:
        return None
    now = int(time.time())
    return Claims(sub=party_id, is_anonymous=True, issued_at=now, expires_at=expires_at)


def _party_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Refused(CloseCode.NOT_FOUND, "session not found") from None


async def _deny(websocket: WebSocket, denied: admission.Denied) -> None:
    """Answer the handshake with an HTTP error in the envelope (no WebSocket is opened)."""
    body = {"detail": denied.detail, "code": denied.code, "request_id": uuid.uuid4().hex}
    response = JSONResponse(body, status_code=denied.status, headers=denied.headers)
    with contextlib.suppress(WebSocketDisconnect, OSError):
        try:
            await websocket.send_denial_response(response)
        except RuntimeError:  # a server without the denial extension: a bare 403
            await websocket.close(code=CloseCode.POLICY)


async def _refuse(websocket: WebSocket, refused: Refused) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.close(refused.code, refused.reason)


async def _serve(hub: Hub, conn: Connection, *, ready: Callable[[], None]) -> None:
    """Snapshot first, then events; this task sends, a child task reads the client."""
    fields: dict[str, object] = {"session_id": str(conn.party_id)}
    if conn.viewer:
        fields["viewer"] = True
    else:
        fields["user_id"] = str(conn.user_id)
    try:
        conn.resume_with(await hub.snapshot_frame(conn))
    except Refused as refused:
        log.info("realtime_refused", code=refused.code, reason=refused.reason, **fields)
        conn.close(refused.code, refused.reason)
    except Exception:
        log.exception("realtime_open_failed", **fields)
        conn.close(CloseCode.INTERNAL, "internal error")
    reading: asyncio.Task[None] | None = None
    if conn.close_code is None:
        ready()
        log.info("realtime_connected", **fields)
        reading = asyncio.create_task(_read(hub, conn))
    try:
        await conn.run_sender()
    finally:
        if reading is not None:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            log.info(
                "realtime_disconnected",
                code=conn.close_code,
                reason=conn.close_reason,
                seconds=round(time.monotonic() - conn.opened_at, 1),
                **fields,
            )


async def _read(hub: Hub, conn: Connection) -> None:
    try:
        await reader.read_client_messages(hub, conn)
    except (WebSocketDisconnect, RuntimeError, OSError):
        conn.peer_closed()
    except Exception:
        log.exception("realtime_read_failed", session_id=str(conn.party_id))
        conn.close(CloseCode.INTERNAL, "internal error")
