"""Close sockets with 1001 *before* uvicorn shuts down.

On SIGTERM/SIGINT uvicorn closes every open WebSocket itself (code 1012) before the app's
lifespan shutdown runs, so closing in `setup.stop` would be too late. When the app runs under
uvicorn in the main thread, this hook wraps uvicorn's signal handler: the first signal closes
every socket with 1001 (bounded by REALTIME_CLOSE_TIMEOUT_SECONDS), then hands the signal to
uvicorn, which finishes its usual graceful shutdown. A second signal goes straight to uvicorn.
Anywhere else (tests driving the app in-process, uvicorn in a thread) nothing is installed and
`setup.stop` closes whatever is still open."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog

from queueit.realtime.hub import Hub

log = structlog.get_logger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)
Handler = Callable[[int, FrameType | None], Any]


class SignalHook:
    def __init__(self, hub: Hub, previous: dict[int, Handler]) -> None:
        self.hub = hub
        self.previous = previous
        self.loop = asyncio.get_running_loop()
        self.signalled = False
        self.task: asyncio.Task[None] | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        previous = self.previous[signum]
        if self.signalled or self.hub.closing:
            previous(signum, frame)  # second signal: let uvicorn decide (force exit)
            return
        self.signalled = True
        self.loop.call_soon_threadsafe(self._begin, signum, previous)

    def _begin(self, signum: int, previous: Handler) -> None:
        self.task = self.loop.create_task(self._close_then_forward(signum, previous))

    async def _close_then_forward(self, signum: int, previous: Handler) -> None:
        log.info("realtime_shutdown_signal", signal=signal.Signals(signum).name)
        try:
            await self.hub.close_all()
        finally:
            previous(signum, None)

    def install(self) -> None:
        for signum in self.previous:
            signal.signal(signum, self.handle)

    def uninstall(self) -> None:
        for signum, previous in self.previous.items():
            if signal.getsignal(signum) == self.handle:
                signal.signal(signum, previous)


def _is_uvicorn_handler(handler: object) -> bool:
    owner = getattr(handler, "__self__", None)
    return type(owner).__module__.startswith("uvicorn.") and callable(handler)


def install(hub: Hub) -> SignalHook | None:
    """Wrap uvicorn's handlers for SIGINT and SIGTERM (only when uvicorn installed them)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous: dict[int, Handler] = {}
    for signum in SIGNALS:
        handler = signal.getsignal(signum)
        if not _is_uvicorn_handler(handler):
            return None
        assert callable(handler)
        previous[signum] = handler
    hook = SignalHook(hub, previous)
    hook.install()
    return hook
