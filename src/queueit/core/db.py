"""Database engine, the declarative base, column types, and the unit of work."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, SessionTransaction
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.types import TypeDecorator

from queueit.core.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, pool_size=5, max_overflow=10, connect_args={"timeout": 30}
        )
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_timeout=settings.database_timeout_seconds,
        connect_args={
            "timeout": settings.database_timeout_seconds,
            "command_timeout": 30,
            "server_settings": {"application_name": "queueit"},
        },
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE so concurrent writers queue up instead of
    failing with 'database is locked' when a read transaction upgrades to a write."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A change other members must hear about; sent only after its transaction commits."""

    session_id: uuid.UUID
    name: str
    version: int
    data: dict[str, Any]


Publisher = Callable[[list[DomainEvent]], Awaitable[None]]


async def _discard(_events: list[DomainEvent]) -> None:
    return None


# Row-level security (PostgreSQL, docs/RLS.md): the roles migration 0002 creates. User requests
# run as RLS_USER_ROLE with the caller's claims; the server's own work as RLS_SYSTEM_ROLE.
RLS_USER_ROLE = "queueit_user"
RLS_SYSTEM_ROLE = "queueit_system"
# One statement, transaction-local (`is_local`): claims as Supabase's PostgREST sets them, then
# `role` (what SET LOCAL ROLE sets). Nothing outlives the transaction on a pooled connection.
_APPLY_RLS = text(
    "SELECT set_config('request.jwt.claims', :claims, true),"
    " set_config('request.jwt.claim.sub', :sub, true),"
    " set_config('role', :role, true)"
)


@dataclass
class UnitOfWork:
    """One request's transaction. Services add rows and events; only `commit` persists them,
    and events reach the backplane only after the commit succeeded."""

    session: AsyncSession
    publisher: Publisher = _discard
    actor_id: uuid.UUID | None = None
    presence_ttl_seconds: float = 90.0
    rls: bool = False
    """Switch roles per transaction for row-level security (PostgreSQL, DATABASE_RLS)."""
    _events: list[DomainEvent] = field(default_factory=list)
    _rls_role: str | None = field(default=None, init=False)
    _rls_claims: dict[str, Any] = field(default_factory=dict, init=False)
    _rls_in_transaction: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.rls = self.rls and self.dialect == "postgresql"
        if self.rls:
            # Every transaction the session begins starts with the current settings: SET LOCAL
            # ends with its transaction, and a unit of work that commits twice must keep them.
            event.listen(self.session.sync_session, "after_begin", self._on_begin)
            event.listen(self.session.sync_session, "after_transaction_end", self._on_end)

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

    @property
    def dialect(self) -> str:
        bind = self.session.bind
        return bind.dialect.name if bind is not None else ""

    async def act_as(self, user_id: uuid.UUID, *, is_anonymous: bool = True) -> None:
        """From now on (this transaction and any later one of this unit of work) run as
        `user_id` under row-level security: `auth.uid()` is the user, the policies of
        RLS_USER_ROLE apply. A no-op on SQLite or with DATABASE_RLS off."""
        claims = {"sub": str(user_id), "role": "authenticated", "is_anonymous": is_anonymous}
        await self._switch(RLS_USER_ROLE, claims)

    async def act_as_system(self) -> None:
        """Run as the server itself (idle expiry and other tasks no user asked for)."""
        await self._switch(RLS_SYSTEM_ROLE, {})

    async def act_as_viewer(self, session_id: uuid.UUID) -> None:
        """Read one party and nothing else, as the holder of its TV link (no user): the
        policies let this caller read that party's state and write nothing."""
        await self._switch(RLS_USER_ROLE, {"role": "anon", "queueit_tv_session": str(session_id)})

    async def act_as_nobody(self) -> None:
        """Row-level security with no caller: every policy denies. A request's starting point,
        so that a query made before `act_as` sees nothing rather than everything."""
        await self._switch(RLS_USER_ROLE, {})

    async def _switch(self, role: str, claims: dict[str, Any]) -> None:
        if not self.rls:
            return
        self._rls_role, self._rls_claims = role, claims
        if self._rls_in_transaction:  # already begun: apply now; otherwise at BEGIN
            await self.session.execute(_APPLY_RLS, self._rls_parameters())

    def _rls_parameters(self) -> dict[str, str]:
        return {
            "claims": json.dumps(self._rls_claims),
            "sub": str(self._rls_claims.get("sub", "")),
            "role": self._rls_role or "",
        }

    def _on_begin(
        self, _session: OrmSession, transaction: SessionTransaction, connection: Connection
    ) -> None:
        if transaction.nested:
            return  # a savepoint inherits its transaction's settings
        self._rls_in_transaction = True
        if self._rls_role is not None:
            connection.execute(_APPLY_RLS, self._rls_parameters())

    def _on_end(self, _session: OrmSession, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            self._rls_in_transaction = False
