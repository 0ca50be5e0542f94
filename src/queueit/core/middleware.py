"""Pure ASGI middleware: request id + structured context, body size cap, security headers."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queueit.core import errors, metrics, sentry

log = structlog.get_logger("queueit.request")
_stdlib_log = logging.getLogger("queueit.request")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Give every request an id (echoing a sane caller id), bind it to every log line,
    send it back as `X-Request-ID`, and render unexpected failures as the error envelope."""

    def __init__(
        self, app: ASGIApp, *, hsts: bool = False, trusted_proxies: list[str] | None = None
    ) -> None:
        self.app = app
        self.hsts = hsts
        self.trusted_proxies = trusted_proxies or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SANE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status_holder = {"status": 500, "sent": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["sent"] = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_security_headers(self.hsts, scope, self.trusted_proxies))
                message["headers"] = headers
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if status_holder["sent"]:
                raise
            response = await errors.render_unexpected(Request(scope), exc)
            if response.status_code == 500:
                sentry.capture_exception(exc)
            await response(scope, receive, send_with_headers)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            duration = time.perf_counter() - started
            route = metrics.route_template(scope)
            status = int(status_holder["status"])
            metrics.observe_request(scope.get("method"), route, status, duration)
            # configure_logging gives structlog's filter and the root logger the same level;
            # asking the latter is cheap, building a filtered-out structlog call is not.
            if _stdlib_log.isEnabledFor(logging.INFO):
                log.info(
                    "request_finished",
                    method=scope.get("method"),
                    route=route,
                    status=status,
                    duration_ms=round(duration * 1000, 2),
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _security_headers(
    hsts: bool, scope: Scope, trusted_proxies: list[str]
) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]
    if hsts and is_https(scope, trusted_proxies):
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return headers


class BodySizeLimitMiddleware:
    """Reject request bodies over the cap with 413 before reading them into memory."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        err = errors.PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes.")
        response = errors.envelope(Request(scope), err.status_code, err.code, err.detail)
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _trusted(addr: str, trusted_proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in trusted_proxies)


def is_https(scope: Scope | Any, trusted_proxies: list[str]) -> bool:
    """Whether the client reached us over HTTPS: the connection itself, or `X-Forwarded-Proto:
    https` from a peer in TRUSTED_PROXIES (anyone else can claim it)."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted_proxies or not _trusted(str(peer), trusted_proxies):
        return False
    proto = (_header(scope, b"x-forwarded-proto") or "").split(",")[-1].strip().lower()
    return proto == "https"


def client_ip(scope: Scope | Any, trusted_proxies: list[str]) -> str:
    """The caller's IP: the peer, or the last untrusted hop of X-Forwarded-For when the peer
    is a trusted proxy."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted_proxies:
        return str(peer)

    def trusted(addr: str) -> bool:
        return _trusted(addr, trusted_proxies)

    if not trusted(peer):
        return str(peer)
    forwarded = _header(scope, b"x-forwarded-for") or ""
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else str(peer)
