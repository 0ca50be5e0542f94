"""Readiness checks, each bounded by a short timeout, and the numbers refreshed before a
metrics scrape."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import text

from queueit.api.state import AppState
from queueit.core import metrics
from queueit.core.schema import SchemaState
from queueit.core.uow import open_uow
from queueit.party import lifecycle

CHECK_TIMEOUT_SECONDS = 2.0
# A scrape refreshes readiness and the active-session count at most this often per process.
METRICS_REFRESH_SECONDS = 15.0


async def _database(state: AppState) -> str:
    schema = state.schema
    if not schema.ready:  # until the schema first matched: its revision (at most 1/s)
        found = await schema.check(force=schema.state is SchemaState.unknown)
        return "ok" if found is SchemaState.ok else found.value
    async with state.database.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return "ok"


async def _redis(state: AppState) -> str:
    if state.redis is None:
        return "disabled"
    await state.redis.ping()
    return "ok"


async def _bounded(check: Any, state: AppState) -> str:
    try:
        result: str = await asyncio.wait_for(check(state), timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return "timeout"
    except Exception:
        return "down"
    return result


async def readiness(state: AppState) -> tuple[bool, dict[str, Any]]:
    """(can serve, body). Only the database decides 503 (unreachable, or its schema not at our
    migration head); Redis or a catalog down is degraded."""
    database, redis = await asyncio.gather(_bounded(_database, state), _bounded(_redis, state))
    catalog = state.catalog.health()
    backplane = state.realtime.backplane.health()
    checks = {"database": database, "redis": redis, "catalog": catalog, "backplane": backplane}
    ok = database == "ok"
    degraded = any(v not in ("ok", "disabled") for v in checks.values())
    status = "ok" if ok and not degraded else ("degraded" if ok else "unavailable")
    metrics.READY.set(1 if ok else 0)
    for name, value in checks.items():
        if value != "disabled":
            metrics.DEPENDENCY_UP.labels(check=name).set(1 if value == "ok" else 0)
    return ok, {"status": status, "checks": checks}


async def _count_active_parties(state: AppState) -> int:
    async with open_uow(state.database, system=True) as uow:
        return await lifecycle.count_active(uow)


async def refresh_metrics(state: AppState) -> None:
    """Before a scrape: readiness gauges and the active-session count (one indexed count),
    at most every METRICS_REFRESH_SECONDS, each bounded by the check timeout. A failure keeps
    the previous values (readiness already reports the outage)."""
    now = time.monotonic()
    last = state.health.refreshed_at
    if last is not None and now - last < METRICS_REFRESH_SECONDS:
        return
    state.health.refreshed_at = now  # set first: concurrent scrapes do not pile up
    ok, _ = await readiness(state)
    if not ok:
        return
    try:
        count = await asyncio.wait_for(_count_active_parties(state), CHECK_TIMEOUT_SECONDS)
    except Exception:  # the database just went away; readiness shows it
        return
    metrics.ACTIVE_SESSIONS.set(count)
