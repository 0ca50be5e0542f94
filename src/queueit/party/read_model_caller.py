"""GET /sessions/current for an authenticated caller in one database round trip (issue 17),
on PostgreSQL with row-level security, when the read model holds the party's document.

The general path (api/party.py: a unit of work, users.service.current_user, then
read_model.current) costs BEGIN, the RLS `set_config`, the ORM user row, the read model's
statement and COMMIT. Here one statement, `queueit_rls.caller_current` (migration 0008),
applies the caller's claims and role and reads, as queueit_user under the policies, the
caller's user row with what `read_model_repository.caller_view` reads, on a pooled connection
in its statement's implicit transaction (no BEGIN/COMMIT, no ORM session).

It answers only the common case and says so with None otherwise, for the general path to
answer exactly as it always did (same bytes, same errors): no user row (provisioning, or a
deleted account's tombstone to check), a guest's row with a full account's token (the
upgrade), a presence write due (`PRESENCE_WRITE_INTERVAL`), a read-model miss or a version
mismatch (the snapshot is built), a party that ended or that the policies hide without a
fresh entry. SQLite (the embedded default) and PostgreSQL without DATABASE_RLS always take
the general path.

Disconnects: the pool does not ping a connection before handing it out (core/engine.py). A
connection found dead here is invalidated and the statement, a read, is tried once more on
another one; a second failure goes to the general path, which reports an unavailable
database as it always did."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from sqlalchemy.util import greenlet_spawn

from queueit.core import rls
from queueit.core.security import Claims
from queueit.core.uow import Database
from queueit.party.errors import NoActiveParty
from queueit.party.read_model import ReadModel
from queueit.users.service import PRESENCE_WRITE_INTERVAL

log = structlog.get_logger(__name__)

_CALLER_CURRENT = "SELECT * FROM queueit_rls.caller_current($1, $2)"
# A connection that cannot serve any more (killed backend, restarted server, broken socket;
# asyncpg reports a backend's FATAL message read mid-request as an internal client error).
DISCONNECTS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
)
# A database without migration 0008, or a login role that may not call it or become
# queueit_user: this process answers through the general path from then on.
UNSUPPORTED = (
    asyncpg.UndefinedFunctionError,
    asyncpg.InvalidSchemaNameError,
    asyncpg.InsufficientPrivilegeError,
)


@dataclass(frozen=True, slots=True)
class CallerRow:
    """The caller's user row and, when there is a party the policies let them see, its
    version and their own fields."""

    is_anonymous: bool
    party_id: uuid.UUID | None
    last_active_at: datetime
    version: int | None
    ended: bool
    requested_skip: bool
    my_votes: dict[str, int]


class FastPath:
    """One process's fast path (state: whether the database supports it)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        settings = database.settings
        self.enabled = database.dialect == "postgresql" and settings.rls_enabled

    async def current(
        self, *, cache: ReadModel, claims: Claims, queue_limit: int, queue_offset: int
    ) -> bytes | None:
        """The body the general path would answer, or None to take the general path.
        Raises `NoActiveParty` exactly where the general path does."""
        if not self.enabled:
            return None
        row = await self._caller_row(claims)
        if row is None:
            return None
        if row.is_anonymous and not claims.is_anonymous:
            return None  # the guest upgrade: users.service decides
        if datetime.now(UTC) - row.last_active_at > PRESENCE_WRITE_INTERVAL:
            return None  # the presence write is the general path's
        if row.party_id is None:
            raise NoActiveParty()
        entry = cache.fresh((row.party_id, queue_limit, queue_offset))
        if entry is None:
            return None
        if row.version is None or row.ended:
            raise NoActiveParty()
        if row.version != entry.version:
            return None
        return entry.render(
            my_votes=row.my_votes,
            requested_skip=row.requested_skip,
            role=entry.role_of(claims.sub),
        )

    async def _caller_row(self, claims: Claims) -> CallerRow | None:
        claims_json = json.dumps(rls.user_claims(claims.sub, is_anonymous=claims.is_anonymous))
        engine = self.database.engine
        for attempt in (1, 2):
            # The pool's connection itself, not an AsyncConnection around it: nothing here
            # needs SQLAlchemy's statement machinery.
            pooled = await engine.raw_connection()
            try:
                driver: asyncpg.Connection[Any] = pooled.driver_connection
                rows = await driver.fetch(_CALLER_CURRENT, claims_json, str(claims.sub))
            except DISCONNECTS as exc:
                log.info("fast_path_disconnect", attempt=attempt, error=type(exc).__name__)
                await greenlet_spawn(pooled.invalidate, exc)
                continue
            except UNSUPPORTED as exc:
                log.warning("fast_path_unsupported", error=type(exc).__name__)
                self.enabled = False
                return None
            finally:
                await greenlet_spawn(pooled.close)  # back to the pool (or closed, if invalid)
            return _row_of(rows)
        return None


def _row_of(rows: list[asyncpg.Record]) -> CallerRow | None:
    if not rows:
        return None
    first = rows[0]
    return CallerRow(
        is_anonymous=bool(first[0]),
        party_id=first[1],
        last_active_at=first[2],
        version=first[3],
        ended=bool(first[4]),
        requested_skip=bool(first[5]),
        my_votes={str(row[6]): int(row[7]) for row in rows if row[6] is not None},
    )
