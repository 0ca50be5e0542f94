"""Pure ASGI middleware: request id + structured context, body size cap, security headers,
CORS for requests with an Origin, and the FastAPI subclass that stacks them without the layers
this app does not use (every one of them runs on every request: docs/BENCHMARKS.md)."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queueit.core import errors, metrics, sentry

log = structlog.get_logger("queueit.request")
_stdlib_log = logging.getLogger("queueit.request")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Give every request an id (echoing a sane caller id), bind it to every log line,
    send it back as `X-Request-ID`, and render unexpected failures as the error envelope.

    The outermost layer, and the stack's error boundary (`LeanFastAPI` leaves out Starlette's
    ServerErrorMiddleware, which this one makes redundant). Its per-request work is what the
    bare route measures (docs/BENCHMARKS.md): the security headers are built once, as raw
    pairs; the log call is built only when INFO is on."""

    def __init__(
        self, app: ASGIApp, *, hsts: bool = False, trusted_proxies: list[str] | None = None
    ) -> None:
        self.app = app
        self.hsts = hsts
        self.trusted_proxies = trusted_proxies or []
        self._headers = SECURITY_HEADERS
        self._headers_https = (*SECURITY_HEADERS, HSTS_HEADER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SANE_ID.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        _bind_only_request_id(request_id)
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500
        response_started = False
        request_id_header = (b"x-request-id", request_id.encode("latin-1"))
        secure = self._headers
        if self.hsts and is_https(scope, self.trusted_proxies):
            secure = self._headers_https

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), request_id_header, *secure]
            await send(message)

        metrics.IN_FLIGHT.requests += 1
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if response_started:
                raise
            response = await errors.render_unexpected(Request(scope), exc)
            if response.status_code == 500:
                sentry.capture_exception(exc)
            await response(scope, receive, send_with_headers)
        finally:
            metrics.IN_FLIGHT.requests -= 1
            duration = time.perf_counter() - started
            route = metrics.route_template(scope)
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


# The variable structlog keeps the bound `request_id` in (a Token's `var` is public), and
# structlog's own registry of every variable `bind_contextvars` made (private: one module dict;
# tests/core/test_stack.py fails if a structlog upgrade changes it).
_tokens = structlog.contextvars.bind_contextvars(request_id=None)
_REQUEST_ID_VAR = _tokens["request_id"].var
structlog.contextvars.reset_contextvars(**_tokens)
_STRUCTLOG_VARS: dict[str, ContextVar[Any]] = structlog.contextvars._CONTEXT_VARS


def _bind_only_request_id(request_id: str) -> None:
    """`clear_contextvars()` then `bind_contextvars(request_id=...)`: the request's log lines
    carry its id and nothing an earlier request bound. The same outcome without their
    per-request work (about 1 us: clearing walks every variable of the context, asyncio's and
    OpenTelemetry's too, to find structlog's by name; binding builds the variable's name and
    a mapping of tokens): only structlog's own variables are reset, and only when set."""
    for var in tuple(_STRUCTLOG_VARS.values()):
        if var is not _REQUEST_ID_VAR and var.get() is not Ellipsis:
            var.set(Ellipsis)
    _REQUEST_ID_VAR.set(request_id)


class _RequestIds:
    """Random UUID4s as 32 hex digits (`uuid.uuid4().hex`), made 256 at a time: one
    `os.urandom` call, the version and variant bits set with two byte translations and one
    `hex()` for all of them, so a request pays a `list.pop` (0.16 us instead of 0.7 us for its
    own system call and formatting). The same randomness (the OS's), the same format; a forked
    child throws the parent's away (it would hand out the same ids)."""

    BATCH = 256
    _VERSION_4 = bytes(b & 0x0F | 0x40 for b in range(256))  # byte 6: version 4
    _RFC_4122 = bytes(b & 0x3F | 0x80 for b in range(256))  # byte 8: the RFC 4122 variant

    def __init__(self) -> None:
        self._left: list[str] = []
        os.register_at_fork(after_in_child=self._left.clear)

    def next(self) -> str:
        if not self._left:
            raw = bytearray(os.urandom(16 * self.BATCH))
            raw[6::16] = raw[6::16].translate(self._VERSION_4)
            raw[8::16] = raw[8::16].translate(self._RFC_4122)
            digits = raw.hex()
            self._left.extend(digits[at : at + 32] for at in range(0, len(digits), 32))
        return self._left.pop()


new_request_id = _RequestIds().next


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
HSTS_HEADER = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BodySizeLimitMiddleware:
    """Reject request bodies over the cap with 413 before reading them into memory.

    A declared length over the cap is refused up front; a declared length within it needs no
    counting (an HTTP/1.1 server delivers no more than the declared bytes). Any other body
    (chunked, or no length given) is counted as it arrives, and the 413 is raised where the
    route reads it, so the exception handlers (inside CORS) render it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for key, value in scope["headers"]:
            if key == b"content-length":
                declared = value
            elif key == b"transfer-encoding":
                chunked = True
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        if declared is not None and not chunked:
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:  # read outside a route (the route's own read is 413 already)
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        err = BodyTooLarge(self.max_bytes)
        response = errors.envelope(Request(scope), err.status_code, "payload_too_large", err.detail)
        await response(scope, receive, send)


class BodyTooLarge(StarletteHTTPException):
    """A 413 raised from `receive`: FastAPI passes an HTTPException raised while it reads the
    body on to the handlers (any other error there becomes a 400 "error parsing the body")."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than {max_bytes} bytes.")


class CorsWhenOrigin:
    """Starlette's CORSMiddleware for the requests that carry an `Origin` (the only ones it
    answers or changes); every other response gets just the `Vary: Origin` it would add, so
    a request without an Origin no longer pays for CORS's header parsing."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Sequence[str],
        allow_credentials: bool,
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
        expose_headers: Sequence[str],
        max_age: int,
    ) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=allow_origins,
            allow_credentials=allow_credentials,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            expose_headers=expose_headers,
            max_age=max_age,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, _ in scope["headers"]:
            if key == b"origin":
                await self.cors(scope, receive, send)
                return

        async def send_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _vary_origin(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_vary)


def _vary_origin(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with `Origin` added to Vary as CORSMiddleware adds it: every Vary value
    joined into the first Vary header (appended when there is none)."""
    out: list[tuple[bytes, bytes]] = []
    varies: list[bytes] = []
    at = -1
    for key, value in headers:
        if key == b"vary":
            if at < 0:
                at = len(out)
                out.append((key, value))
            varies.append(value)
        else:
            out.append((key, value))
    joined = (b"vary", b", ".join([*varies, b"Origin"]))
    if at < 0:
        out.append(joined)
    else:
        out[at] = joined
    return out


class LeanFastAPI(FastAPI):
    """FastAPI with only the layers this app uses around the router: the user middleware
    (RequestContextMiddleware outermost), the exception handlers, and the exit stack the
    routes require. Left out, per request: Starlette's ServerErrorMiddleware (the request
    middleware renders unexpected errors with the same handler and is the error boundary),
    FastAPI's native OpenTelemetry layers (off: QueueIT's own metrics, logs and Sentry are
    its telemetry) and its body-limit layer (BodySizeLimitMiddleware does that; set
    `max_body_size` and the full FastAPI stack is built)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("telemetry", {"tracing": False, "metrics": False, "logs": False})
        super().__init__(**kwargs)

    def docs_routes_last(self) -> None:
        """Move FastAPI's own documentation routes (the OpenAPI schema, Swagger UI and its
        OAuth2 redirect, ReDoc) behind every route included so far. FastAPI adds them when the
        app is made, so they come first, and the app asks its routes in order: with the docs
        on (development, DOCS_ENABLED), every API request paid four path tests for pages only a
        person opens (about 2 us of the bare route's CPU, docs/BENCHMARKS.md). No other route's
        path is one of theirs, so the order changes no outcome."""
        urls = {
            self.openapi_url,
            self.docs_url,
            self.redoc_url,
            self.swagger_ui_oauth2_redirect_url,
        }
        urls.discard(None)
        routes = self.router.routes
        docs = [route for route in routes if isinstance(route, Route) and route.path in urls]
        moved = {id(route) for route in docs}
        routes[:] = [*(route for route in routes if id(route) not in moved), *docs]

    def build_middleware_stack(self) -> ASGIApp:
        outermost: object = self.user_middleware[0].cls if self.user_middleware else None
        if self.max_body_size is not None or outermost is not RequestContextMiddleware:
            return super().build_middleware_stack()
        handlers = {
            key: value
            for key, value in self.exception_handlers.items()
            if key not in (500, Exception)
        }
        middleware = [
            *self.user_middleware,
            Middleware(ExceptionMiddleware, handlers=handlers, debug=self.debug),
            Middleware(AsyncExitStackMiddleware),
        ]
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        return app


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
