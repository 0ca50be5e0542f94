"""Schema readiness: is the database at the migration head this server was built for?

Until it is, `/readyz` answers 503 (`database: "schema_behind"` or `"schema_ahead"`) and every
`/api/` request gets 503 `database_not_ready` instead of failing on a missing table. The gate
re-reads the database's revision at most once per `RECHECK_SECONDS` while it is not ready
(a background watch, and `/readyz`), so `queueit migrate` makes a running server ready without
a restart. Once the schema matched, the gate stays open and costs one attribute read per
request: a newer schema after that is the normal rolling-deploy order (migrate, then roll the
new code out), and the old instances keep serving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from enum import StrEnum
from typing import Any

import structlog
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from queueit.core import errors
from queueit.core.migrate import alembic_config

log = structlog.get_logger(__name__)

RECHECK_SECONDS = 1.0
CHECK_TIMEOUT_SECONDS = 2.0
RETRY_AFTER_SECONDS = "5"
HINT = "run `queueit migrate`"


class SchemaState(StrEnum):
    ok = "ok"
    behind = "schema_behind"  # empty, or an older revision: `queueit migrate` fixes it
    ahead = "schema_ahead"  # a revision this code does not know: newer code migrated it
    unknown = "unknown"  # not checked yet, or the database could not be reached


class DatabaseNotReady(errors.ServiceUnavailable):
    code = "database_not_ready"
    detail = (
        "The database is not migrated for this server version yet; the operator must run "
        "`queueit migrate`. Try again shortly."
    )


@functools.cache
def script_head() -> str:
    """The migration head this code was built for (the packaged Alembic scripts)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migration head in the packaged migrations")
    return head


def classify(revision: str | None) -> SchemaState:
    """Where a database at `revision` (None: never migrated) stands against our head."""
    head = script_head()
    if revision == head:
        return SchemaState.ok
    if revision is None:
        return SchemaState.behind
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    return SchemaState.behind if known is not None else SchemaState.ahead


async def database_revision(engine: AsyncEngine) -> str | None:
    """The revision stamped in `alembic_version` (None when the table is absent or empty)."""

    def read(sync_connection: Any) -> str | None:
        heads = MigrationContext.configure(sync_connection).get_current_heads()
        return str(heads[0]) if len(heads) == 1 else (",".join(heads) or None)

    async with engine.connect() as conn:
        return await conn.run_sync(read)


class SchemaGate:
    """The process's view of the schema; made by create_app, bound to the engine at start."""

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None
        self.state = SchemaState.unknown
        self.revision: str | None = None
        self._checked_at = -RECHECK_SECONDS
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.state is SchemaState.ok

    @property
    def refusing(self) -> bool:
        """Known not to be at head: requests get 503 database_not_ready. An unknown state
        (the database unreachable) lets requests through to their own database_unavailable."""
        return self.state in (SchemaState.behind, SchemaState.ahead)

    async def check(self, *, force: bool = False) -> SchemaState:
        """Read the database's revision, at most once per RECHECK_SECONDS unless `force`;
        never again once ready. Raises when the database cannot be reached (the last known
        state is kept)."""
        if self.ready or self.engine is None:
            return self.state
        async with self._lock:
            now = time.monotonic()
            if self.ready or (not force and now - self._checked_at < RECHECK_SECONDS):
                return self.state
            self._checked_at = now
            # A failure (database unreachable) raises and keeps the last known state.
            revision = await database_revision(self.engine)
            self.revision, self.state = revision, classify(revision)
            if self.state is SchemaState.ok:
                log.info("database_schema_ready", revision=revision)
            return self.state

    async def start(self, engine: AsyncEngine) -> None:
        """Check once at start-up, logging what the operator must do when not at head."""
        self.engine = engine
        try:
            await asyncio.wait_for(self.check(force=True), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("database_schema_unchecked", error=type(exc).__name__)
            return
        if not self.ready:
            log.error(
                "database_schema_not_ready",
                state=self.state.value,
                database_revision=self.revision,
                expected_revision=script_head(),
                hint=HINT,
            )

    async def watch(self, stop: asyncio.Event) -> None:
        """Until ready (or stopped): re-check every RECHECK_SECONDS."""
        while not self.ready and not stop.is_set():
            # Unreachable: readiness reports it; try again next round.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.check(), CHECK_TIMEOUT_SECONDS)
            try:
                await asyncio.wait_for(stop.wait(), RECHECK_SECONDS)
            except TimeoutError:
                continue


class SchemaGateMiddleware:
    """`/api/` requests get 503 database_not_ready (sockets: close 1013) while the schema is
    known not to be at head. Once ready: one attribute read per request."""

    def __init__(self, app: ASGIApp, *, gate: SchemaGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate
        if (
            gate.ready
            or not gate.refusing
            or scope["type"] not in ("http", "websocket")
            or not str(scope.get("path", "")).startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send(
                    {"type": "websocket.close", "code": 1013, "reason": "database not ready"}
                )
            return
        err = DatabaseNotReady(headers={"Retry-After": RETRY_AFTER_SECONDS})
        response = errors.envelope(
            Request(scope), err.status_code, err.code, err.detail, err.headers
        )
        await response(scope, receive, send)
