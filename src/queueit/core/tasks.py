"""Periodic tasks run inside the app (started and stopped by the lifespan).

Every instance runs the same tasks; a task that must run once per tick across the fleet
takes its own lock (party/expiry.py: a PostgreSQL advisory lock) and reports 'skipped' when
another instance holds it. A failing run is logged (and reported to Sentry) and never stops
the loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError

from queueit.core import metrics, sentry

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    interval: float
    run: Callable[[], Awaitable[str]]
    """Returns the outcome label for `queueit_task_runs_total` ('ok', 'skipped')."""


class TaskRunner:
    """Runs each task every `interval` seconds (first run after one interval) until stopped;
    an interval of 0 turns a task off."""

    def __init__(self, tasks: list[PeriodicTask]) -> None:
        self.tasks = [task for task in tasks if task.interval > 0]
        self._stop = asyncio.Event()
        self._running: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for task in self.tasks:
            self._running.append(asyncio.create_task(self._loop(task), name=f"task-{task.name}"))

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let a run in progress finish (bounded), then cancel whatever is left."""
        self._stop.set()
        if not self._running:
            return
        _, pending = await asyncio.wait(self._running, timeout=grace_seconds)
        for running in pending:
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running.clear()

    async def _loop(self, task: PeriodicTask) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=task.interval)
            if self._stop.is_set():
                return
            await run_once(task)


async def run_once(task: PeriodicTask) -> str:
    """One run of a task: its outcome, or 'error' after logging what went wrong."""
    try:
        outcome = await task.run()
    except asyncio.CancelledError:
        raise
    except (OperationalError, DBAPIError, OSError, TimeoutError) as exc:
        # The database is down or restarting: expected during incidents, retried next tick.
        log.warning("task_failed", task=task.name, error=type(exc).__name__)
        outcome = "error"
    except Exception as exc:
        log.exception("task_failed", task=task.name, error=type(exc).__name__)
        sentry.capture_exception(exc)
        outcome = "error"
    metrics.TASK_RUNS.labels(task=task.name, outcome=outcome).inc()
    return outcome
