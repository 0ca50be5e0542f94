"""Periodic tasks run inside the app (started and stopped by the lifespan).

Every instance runs the same tasks; a task that must run once per tick across the fleet
(idle-session expiry) takes a PostgreSQL advisory lock inside its own transaction and skips
the tick when another instance holds it. On SQLite there is one writer (and normally one
process), so the database itself serialises sweeps. A failing run is logged (and reported
to Sentry) and never stops the loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from queueit.core import metrics, sentry
from queueit.core.state import AppState
from queueit.core.uow import open_uow
from queueit.sessions import service as sessions_service

log = structlog.get_logger(__name__)

# pg_try_advisory_xact_lock key of the idle-session sweep (any constant unique to this use;
# this one spells "QIDL").
SWEEP_LOCK_KEY = 0x5149_444C
# One sweep ends at most this many batches (each of `repository.idle_sessions`' size), each
# batch in its own short transaction, so a large backlog never holds locks for long.
SWEEP_MAX_BATCHES = 20
SWEEP_BATCH_SIZE = 100


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    interval: float
    run: Callable[[AppState], Awaitable[str]]
    """Returns the outcome label for `queueit_task_runs_total` ('ok', 'skipped')."""


class TaskRunner:
    """Runs each task every `interval` seconds (first run after one interval) until stopped."""

    def __init__(self, state: AppState, tasks: list[PeriodicTask]) -> None:
        self.state = state
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
            await run_once(self.state, task)


async def run_once(state: AppState, task: PeriodicTask) -> str:
    """One run of a task: its outcome, or 'error' after logging what went wrong."""
    try:
        outcome = await task.run(state)
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


async def sweep_idle_sessions(state: AppState) -> str:
    """End parties idle for SESSION_IDLE_HOURS; 'skipped' when another instance is sweeping."""
    total = 0
    for _ in range(SWEEP_MAX_BATCHES):
        ended = await _sweep_batch(state)
        if ended is None:
            return "skipped" if total == 0 else "ok"
        total += ended
        if ended < SWEEP_BATCH_SIZE:
            break
    if total:
        metrics.SESSIONS_EXPIRED.inc(total)
        log.info("idle_sessions_expired", ended=total)
    return "ok"


async def _sweep_batch(state: AppState) -> int | None:
    """One transaction: the number of parties ended, or None when the lock was taken."""
    async with open_uow(state, system=True) as uow:
        if uow.session.get_bind().dialect.name == "postgresql":
            # Held until this transaction ends, so the lock and the work commit together.
            acquired = await uow.session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK_KEY}
            )
            if not acquired:
                log.debug("idle_sweep_skipped", reason="locked_by_another_instance")
                return None
        return await sessions_service.expire_idle(uow, idle_hours=state.settings.session_idle_hours)


def default_tasks(state: AppState) -> list[PeriodicTask]:
    return [
        PeriodicTask(
            name="session_sweep",
            interval=state.settings.session_sweep_seconds,
            run=sweep_idle_sessions,
        ),
    ]
