"""Prometheus exposition: the /metrics body, and the optional server on METRICS_PORT.

The separate server is a small asyncio HTTP/1.0 responder on the app's own event loop, so a
scrape refreshes the database-backed numbers exactly as /metrics on the API port does. It
answers `GET /metrics` (and `GET /`) and nothing else; it is meant for a private network."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from queueit.api.state import AppState
from queueit.health import service

log = structlog.get_logger(__name__)

REQUEST_TIMEOUT_SECONDS = 5.0
MAX_REQUEST_BYTES = 8192


async def render(state: AppState) -> bytes:
    """The text exposition of every metric of this process (default registry)."""
    await service.refresh_metrics(state)
    return generate_latest(REGISTRY)


class MetricsServer:
    def __init__(self, state: AppState, *, host: str, port: int) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_REQUEST_BYTES
        )
        sockets = self._server.sockets or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("metrics_server_started", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
                status, body, content_type = await self._respond(head)
                writer.write(
                    f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that went away or sent garbage: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _respond(self, head: bytes) -> tuple[str, bytes, str]:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(head) > MAX_REQUEST_BYTES or len(request_line) != 3:
            return "400 Bad Request", b"bad request\n", "text/plain"
        method, target, _ = request_line
        path = target.split("?", 1)[0]
        if method != "GET" or path not in ("/metrics", "/"):
            return "404 Not Found", b"not found\n", "text/plain"
        return "200 OK", await render(self.state), CONTENT_TYPE_LATEST


async def start_server(state: AppState) -> MetricsServer | None:
    """Start the METRICS_PORT server when configured. A port that cannot be bound (taken, or
    already bound by another worker of this process group) is logged, never fatal."""
    settings = state.settings
    if settings.metrics_enabled and settings.workers > 1:
        log.warning(
            "metrics_per_worker",
            workers=settings.workers,
            hint="each worker reports only its own metrics; run one worker per process",
        )
    if not settings.metrics_enabled or not settings.metrics_port:
        return None
    server = MetricsServer(
        state, host=settings.metrics_host or settings.host, port=settings.metrics_port
    )
    try:
        await server.start()
    except OSError as exc:
        log.warning("metrics_server_unavailable", port=settings.metrics_port, error=str(exc))
        return None
    return server
