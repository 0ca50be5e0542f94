"""Readiness checks, each bounded by a short timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from queueit.core.state import AppState

CHECK_TIMEOUT_SECONDS = 2.0


async def _database(state: AppState) -> str:
    async with state.engine.connect() as conn:
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
    """(can serve, body). Only the database decides 503; Redis or a catalog down is degraded."""
    database, redis = await asyncio.gather(_bounded(_database, state), _bounded(_redis, state))
    catalog = state.catalog.health() if state.catalog is not None else "disabled"
    backplane = state.backplane.health() if state.backplane is not None else "disabled"
    checks = {"database": database, "redis": redis, "catalog": catalog, "backplane": backplane}
    ok = database == "ok"
    degraded = any(v not in ("ok", "disabled") for v in checks.values())
    status = "ok" if ok and not degraded else ("degraded" if ok else "unavailable")
    return ok, {"status": status, "checks": checks}
