"""The shutdown watchdog of `queueit serve`: a stop that takes too long ends the process.

A graceful shutdown is bounded step by step (uvicorn's grace period for open connections,
the close timeout of sockets, the grace of periodic tasks), but what runs after the app's
lifespan (closing the event loop, interpreter exit waiting for non-daemon threads) has no
bound of its own: a task, executor job or thread left behind there would keep a replica
alive after SIGTERM until the orchestrator kills it. The watchdog is armed when the lifespan
shutdown begins; if the process is still running `seconds` later it writes every thread's
stack to stderr (so the cause can be found) and exits with status 1."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading

import structlog

log = structlog.get_logger(__name__)

EXIT_STATUS = 1


class ShutdownWatchdog:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._timer: threading.Timer | None = None

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def arm(self) -> None:
        """Start counting (once). The timer is a daemon thread: it never holds the process."""
        if self._timer is not None or self.seconds <= 0:
            return
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.name = "shutdown-watchdog"
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        log.error("shutdown_watchdog_fired", seconds=self.seconds)
        sys.stderr.write(
            f"queueit: shutdown took longer than {self.seconds:g} s; every thread's stack:\n"
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(EXIT_STATUS)
