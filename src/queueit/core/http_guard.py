"""The HTTP protocol `queueit serve` hands uvicorn: uvicorn's httptools protocol with a
header-read timeout and a cap on open connections, for when uvicorn faces the network itself.

uvicorn (0.54) has neither: a connection that never finishes its request line and headers is
held forever (its keep-alive timer only runs between requests), and `limit_concurrency`
answers 503 only once headers are complete, so half-sent requests are never counted. Here:

- every request's line and headers must arrive within SERVE_HEADER_TIMEOUT_SECONDS of its
  first byte (of the connection's opening, for the first request); otherwise the connection
  gets `408` in the error envelope and is closed;
- a connection that would make more than SERVE_MAX_CONNECTIONS open connections in this
  process (HTTP and WebSocket, uvicorn counts both) gets `503` and is closed at once;
- a new connection from an address that already has SERVE_MAX_PENDING_PER_ADDRESS requests
  whose headers are still arriving gets `429` and is closed at once, so one address cannot
  fill the connection cap with half-sent requests (TRUSTED_PROXIES are exempt: a proxy
  carries everyone).

uvicorn imports the class by name in each worker (workers are spawned), so it reads its limits
from the environment once, like the app's own settings."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from queueit.core import metrics
from queueit.core.settings import Settings

log = structlog.get_logger(__name__)

PROTOCOL_PATH = "queueit.core.http_guard:GuardedHttpProtocol"
CLOSE_GRACE_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0  # under attack: one log line a minute per reason, the metric counts
_last_warned: dict[str, float] = {}


def _refused(reason: str, **fields: Any) -> None:
    metrics.CONNECTIONS_REFUSED.labels(reason=reason).inc()
    now = time.monotonic()
    if now - _last_warned.get(reason, -WARN_EVERY_SECONDS) >= WARN_EVERY_SECONDS:
        _last_warned[reason] = now
        log.warning("connection_refused", reason=reason, **fields)


@dataclass(frozen=True, slots=True)
class Limits:
    header_timeout: float  # 0: no header timeout
    max_connections: int  # 0: no cap
    max_pending_per_address: int = 0  # 0: no cap
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def counts(self, address: str) -> bool:
        """Whether `address` is held to the per-address cap (a trusted proxy is not: it
        carries many clients)."""
        if not self.max_pending_per_address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True
        return not any(ip in network for network in self.exempt)


def limits_of(settings: Settings) -> Limits:
    return Limits(
        header_timeout=settings.serve_header_timeout_seconds,
        max_connections=settings.serve_max_connections,
        max_pending_per_address=settings.serve_max_pending_per_address,
        exempt=tuple(ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies),
    )


@functools.cache
def _limits() -> Limits:
    return limits_of(Settings())


# Connections of this process whose request line and headers are still arriving, by peer.
_pending: Counter[str] = Counter()


def raw_response(status: str, code: str, detail: str, extra: str = "") -> bytes:
    """A complete `Connection: close` response in the error envelope, written at the transport
    level (no ASGI cycle exists yet)."""
    body = orjson.dumps({"detail": detail, "code": code, "request_id": uuid.uuid4().hex})
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


REQUEST_TIMEOUT = raw_response(
    "408 Request Timeout", "request_timeout", "The request headers did not arrive in time."
)
SERVER_BUSY = raw_response(
    "503 Service Unavailable",
    "server_busy",
    "The server has too many open connections; try again shortly.",
    "retry-after: 1\r\n",
)
TOO_MANY_PENDING = raw_response(
    "429 Too Many Requests",
    "too_many_connections",
    "Too many unfinished requests from your address; try again shortly.",
    "retry-after: 1\r\n",
)


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: Limits | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits or _limits()
        self.header_timer: asyncio.TimerHandle | None = None
        self.pending_as: str | None = None  # the peer address counted in _pending
        self.counted_as: str | None = None  # the peer, when held to the per-address cap

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self.limits.max_connections
        if cap and len(self.connections) > cap:
            _refused("over_cap", open=len(self.connections), cap=cap)
            self._close_with(SERVER_BUSY)
            return
        address = self.client[0] if self.client else ""
        # Asked once per connection (it parses the address), not once per request.
        self.counted_as = address if address and self.limits.counts(address) else None
        limit = self.limits.max_pending_per_address
        if self.counted_as is not None and _pending[self.counted_as] >= limit:
            _refused("pending_per_address", cap=limit)
            self._close_with(TOO_MANY_PENDING)
            return
        self._begin_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_headers()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begin_headers()  # a later request on a kept-alive connection: its own bound

    def on_headers_complete(self) -> None:
        self._end_headers()
        super().on_headers_complete()

    def _begin_headers(self) -> None:
        if self.header_timer is None and self.limits.header_timeout > 0:
            self.header_timer = self.loop.call_later(
                self.limits.header_timeout, self._headers_timed_out
            )
        if self.pending_as is None and self.counted_as is not None:
            self.pending_as = self.counted_as
            _pending[self.counted_as] += 1

    def _end_headers(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None
        if self.pending_as is not None:
            _pending[self.pending_as] -= 1
            if _pending[self.pending_as] <= 0:
                del _pending[self.pending_as]
            self.pending_as = None

    def _headers_timed_out(self) -> None:
        self.header_timer = None
        if self.transport.is_closing():
            return
        _refused("header_timeout", seconds=self.limits.header_timeout)
        self._close_with(REQUEST_TIMEOUT)

    def _close_with(self, response: bytes) -> None:
        self._end_headers()
        self.transport.write(response)
        self.transport.close()
        # A peer that never reads must not keep the socket: drop it after a grace period.
        self.loop.call_later(CLOSE_GRACE_SECONDS, self.transport.abort)
