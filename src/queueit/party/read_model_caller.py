"""GET /sessions/current for an authenticated caller in one database round trip (issue 17),
or none on a repeat at an unchanged version, on PostgreSQL with row-level security, when the
read model holds the party's document.

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
database as it always did.

A repeat without a round trip (issue 17): the caller's row as the statement answered it is
kept per process (`Callers`, bounded, least recently used first out), keyed by the caller's
id and whether the token is a guest's (the claims the statement applies), and used again
instead of the statement while all of these hold:

- the backplane is live and the version tracker's epoch (realtime/versions.py) is the one
  taken before the row's statement started: no event can have been lost since the read;
- no event of the row's party with a higher version than the row's has been heard of since;
- the row was read less than `TTL_SECONDS` ago (the read model's own: whatever may lag here
  lags no longer than the document already may).

Every change that can alter what a kept row says bumps its party's version and publishes an
event with that version after the commit (audited, docs/RLS.md "What the database no longer
decides on every read"): a vote, a withdrawn vote or the votes withdrawn with a removed
member (`votes.updated`/`queue.updated`), a skip request or its withdrawal, a song that
starts, ends or leaves the queue (which moves the caller's votes and skip request out of
the row), a role change (`roles.updated`; the role is the document's anyway), leaving,
joining another party (leaving the old one first), a kick or ban (`member.left` with
`session.updated`), an account's deletion (it leaves first), the party's end by its host,
by its host opening another or deleting their account, or by idle expiry (`session.ended`).
Two fields move without an event, and a stale copy of either only sends the caller to the
general path sooner: `last_active_at` (presence writes; a kept value is never newer than
the row's, so a presence write is never skipped) and `is_anonymous` (a guest's upgrade: a
kept `true` with a full account's token goes to the general path, which finds the upgrade
made or makes it; with a guest's token both answer the same document).

What may lag, and for how long: a change made through this process is seen at once (its
events reach the tracker before its response is sent); one made through another process
once its event arrives through Redis. An event lost unseen (a subscription dead before the
reader notices, a publish that failed elsewhere) costs at most `TTL_SECONDS` of a stale
row: for that long a removed member could still read the document, as docs/RLS.md says.

Each check the statement's answer goes through applies to a kept row the same way, and any
answer but a hit (the general path, 404) drops the caller's kept row: the general path may
write presence or upgrade a guest. A 404, or a caller in no party, is never kept.

SQLite and PostgreSQL without DATABASE_RLS keep nothing (they never get here)."""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.util import greenlet_spawn

from queueit.core import rls
from queueit.core.security import Claims
from queueit.core.uow import Database
from queueit.party.errors import NoActiveParty
from queueit.party.read_model import TTL_SECONDS, ReadModel
from queueit.realtime.versions import VersionTracker
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
# Callers' rows kept per process (~1 KB each with a few votes).
MAX_CALLERS = 10_000


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


CallerKey = tuple[uuid.UUID, bool]  # the caller's id, whether the token is a guest's


@dataclass(frozen=True, slots=True)
class Kept:
    """A caller's row as the statement answered it, with the tracker's epoch taken before the
    statement started and the (monotonic) time it started."""

    row: CallerRow
    epoch: int
    read_at: float


class Callers:
    """This process's kept rows, least recently used first out (asyncio code only)."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_CALLERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict[CallerKey, Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: CallerKey) -> bool:
        return key in self._entries

    def usable(self, key: CallerKey, versions: VersionTracker) -> CallerRow | None:
        """The kept row for `key` if nothing may have changed it since it was read."""
        kept = self._entries.get(key)
        if kept is None:
            return None
        row = kept.row
        assert row.party_id is not None and row.version is not None  # only those are kept
        heard = versions.seen(row.party_id)
        if (
            versions.epoch() != kept.epoch
            or (heard is not None and heard > row.version)
            or self.clock() - kept.read_at >= self.ttl
        ):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return row

    def keep(self, key: CallerKey, kept: Kept) -> None:
        self._entries[key] = kept
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, key: CallerKey) -> None:
        self._entries.pop(key, None)


class FastPath:
    """One process's fast path (state: whether the database supports it, the kept rows)."""

    def __init__(self, database: Database, versions: VersionTracker | None = None) -> None:
        self.database = database
        settings = database.settings
        self.enabled = database.dialect == "postgresql" and settings.rls_enabled
        self.versions = versions  # None: nothing is kept (every hit costs the statement)
        self.callers = Callers()

    async def current(
        self, *, cache: ReadModel, claims: Claims, queue_limit: int, queue_offset: int
    ) -> bytes | None:
        """The body the general path would answer, or None to take the general path.
        Raises `NoActiveParty` exactly where the general path does."""
        if not self.enabled:
            return None
        key = (claims.sub, claims.is_anonymous)
        versions = self.versions
        row = self.callers.usable(key, versions) if versions is not None else None
        kept: Kept | None = None
        if row is None:
            # The epoch before the read: an event lost while it runs moves it.
            epoch = versions.epoch() if versions is not None else None
            read_at = self.callers.clock()
            row = await self._caller_row(claims)
            if row is not None and epoch is not None:
                kept = Kept(row, epoch, read_at)
        try:
            body = self._answer(row, cache=cache, claims=claims, page=(queue_limit, queue_offset))
        except NoActiveParty:
            self.callers.drop(key)
            raise
        if body is None:
            self.callers.drop(key)  # the general path may write presence, upgrade a guest
        elif kept is not None:
            self.callers.keep(key, kept)
        return body

    def _answer(
        self, row: CallerRow | None, *, cache: ReadModel, claims: Claims, page: tuple[int, int]
    ) -> bytes | None:
        if row is None:
            return None
        if row.is_anonymous and not claims.is_anonymous:
            return None  # the guest upgrade: users.service decides
        if datetime.now(UTC) - row.last_active_at > PRESENCE_WRITE_INTERVAL:
            return None  # the presence write is the general path's
        if row.party_id is None:
            raise NoActiveParty()
        entry = cache.fresh((row.party_id, *page))  # page: queue_limit, queue_offset
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
            try:
                pooled = await engine.raw_connection()
            except (engine.dialect.loaded_dbapi.Error, OSError, SQLAlchemyError) as exc:
                # No connection to be had (the database restarting, the pool exhausted):
                # the general path asks again and answers 503 as it always did.
                log.info("fast_path_no_connection", error=type(exc).__name__)
                return None
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
