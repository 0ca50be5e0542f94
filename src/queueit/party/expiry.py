"""Idle expiry, a periodic task (core/tasks.py): parties with no activity (no API calls, no
open sockets) for SESSION_IDLE_HOURS are ended as their host would end them.

Every instance runs the task; on PostgreSQL each batch takes an advisory lock inside its own
transaction and is skipped when another instance holds it. On SQLite there is one writer
(and normally one process), so the database itself serialises sweeps."""

from __future__ import annotations

import structlog
from sqlalchemy import text

from queueit.core import metrics
from queueit.core.uow import Database, open_uow
from queueit.party import lifecycle

log = structlog.get_logger(__name__)

# pg_try_advisory_xact_lock key of the idle-party sweep (any constant unique to this use;
# this one spells "QIDL").
SWEEP_LOCK_KEY = 0x5149_444C
# One sweep ends at most this many batches, each in its own short transaction, so a large
# backlog never holds locks for long.
SWEEP_MAX_BATCHES = 20
SWEEP_BATCH_SIZE = 100


async def sweep_idle_parties(database: Database, *, idle_hours: float) -> str:
    """End parties idle for `idle_hours`; 'skipped' when another instance is sweeping."""
    total = 0
    for _ in range(SWEEP_MAX_BATCHES):
        ended = await _sweep_batch(database, idle_hours=idle_hours)
        if ended is None:
            return "skipped" if total == 0 else "ok"
        total += ended
        if ended < SWEEP_BATCH_SIZE:
            break
    if total:
        metrics.SESSIONS_EXPIRED.inc(total)
        log.info("idle_sessions_expired", ended=total)
    return "ok"


async def _sweep_batch(database: Database, *, idle_hours: float) -> int | None:
    """One transaction: the number of parties ended, or None when the lock was taken."""
    async with open_uow(database, system=True) as uow:
        if uow.dialect == "postgresql":
            # Held until this transaction ends, so the lock and the work commit together.
            acquired = await uow.session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK_KEY}
            )
            if not acquired:
                log.debug("idle_sweep_skipped", reason="locked_by_another_instance")
                return None
        return await lifecycle.expire_idle(uow, idle_hours=idle_hours)
