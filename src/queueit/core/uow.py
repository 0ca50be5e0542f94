"""The unit of work: one transaction, the only place that commits, and the events that go
out once it has committed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from queueit.core import rls
from queueit.core.events import DomainEvent, Publisher, discard
from queueit.core.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Database:
    """The app's database: its engine and session factory, and where committed events go
    (the realtime backplane, set once it runs)."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    publisher: Publisher = discard

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


@dataclass
class UnitOfWork:
    """One request's (or task's) transaction. Services add rows and events; only `commit`
    persists them, and events reach the publisher only after the commit succeeded."""

    session: AsyncSession
    settings: Settings
    publisher: Publisher = discard
    _events: list[DomainEvent] = field(default_factory=list)
    _rls: rls.RlsIdentity | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.settings.rls_enabled and self.dialect == "postgresql":
            self._rls = rls.RlsIdentity(self.session)

    @property
    def dialect(self) -> str:
        bind = self.session.bind
        return bind.dialect.name if bind is not None else ""

    def publish(self, event: DomainEvent) -> None:
        self._events.append(event)

    async def commit(self) -> None:
        await self.session.commit()
        events, self._events = self._events, []
        if events:
            await self.publisher(events)

    async def rollback(self) -> None:
        self._events.clear()
        await self.session.rollback()

    # -- row-level security (a no-op on SQLite or with DATABASE_RLS off) ---------------------

    async def act_as(self, user_id: uuid.UUID, *, is_anonymous: bool = True) -> None:
        """From now on (this transaction and any later one of this unit of work) run as
        `user_id`: `auth.uid()` is the user, the policies of queueit_user apply."""
        await self._switch(rls.RLS_USER_ROLE, rls.user_claims(user_id, is_anonymous=is_anonymous))

    async def act_as_system(self) -> None:
        """Run as the server itself (idle expiry and other tasks no user asked for)."""
        await self._switch(rls.RLS_SYSTEM_ROLE, {})

    async def act_as_viewer(self, party_id: uuid.UUID) -> None:
        """Read one party and nothing else, as the holder of its TV link (no user)."""
        await self._switch(rls.RLS_USER_ROLE, rls.viewer_claims(party_id))

    async def act_as_nobody(self) -> None:
        """No caller: every policy denies. A request's starting point, so that a query made
        before `act_as` sees nothing rather than everything. Recorded only: the transaction
        begins with the identity the unit of work takes next (or at its first query)."""
        await self._switch(rls.RLS_USER_ROLE, {}, begin=False)

    @asynccontextmanager
    async def as_system(self) -> AsyncIterator[None]:
        """Run the statements inside as the server itself, then go back to the caller (same
        transaction). For the few writes the server makes on its own authority during a
        request, such as replacing client text in the shared catalog with the catalog's."""
        if self._rls is None:
            yield
            return
        role, claims = self._rls.role, dict(self._rls.claims)
        await self._switch(rls.RLS_SYSTEM_ROLE, {})
        try:
            yield
        finally:
            if role is not None:
                await self._switch(role, claims)

    async def _switch(self, role: str, claims: dict[str, Any], *, begin: bool = True) -> None:
        if self._rls is None:
            return
        await self._rls.switch(role, claims)
        if begin and not self._rls.in_transaction:
            await self._begin()

    async def _begin(self) -> None:
        """Begin the transaction now, with the RLS statement: the first use of a pooled
        connection, which the pool no longer pings first (core/engine.py). A connection found
        dead there has done nothing yet, so the transaction is begun once more on a fresh one
        (the pool has already dropped the connections as old as the dead one)."""
        try:
            await self.session.connection()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.info("database_reconnect", error=type(exc.orig).__name__)
            await self.session.rollback()
            await self.session.connection()


@asynccontextmanager
async def open_uow(database: Database, *, system: bool = False) -> AsyncIterator[UnitOfWork]:
    """Commit on success, roll back on any error; publish events only after the commit.
    `system` marks work done by the server itself rather than on behalf of a user.

    On PostgreSQL (DATABASE_RLS) system work runs as queueit_system, and a request as
    queueit_user with the caller's claims once `uow.act_as(user_id)` named them (users.service.
    current_user calls it right after verifying the token; a TV link's views call
    `act_as_viewer`). Until then it runs with no caller, so every policy denies: a route that
    forgets to name its caller sees nothing rather than everything (docs/RLS.md)."""
    async with database.sessionmaker() as session:
        uow = UnitOfWork(session=session, settings=database.settings, publisher=database.publisher)
        if system:
            await uow.act_as_system()
        else:
            await uow.act_as_nobody()
        try:
            yield uow
            await uow.commit()
        except BaseException:
            await uow.rollback()
            raise
