"""The database engine: PostgreSQL (asyncpg) or the embedded SQLite (aiosqlite, WAL), the
session factory, and the dialect's INSERT for upserts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from queueit.core.files import private_dir, private_file, tighten
from queueit.core.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        private_dir(settings.data_dir)
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            private_dir(path.parent)
            private_file(path)  # before SQLite creates it 0644; -wal/-shm follow its mode
            for suffix in ("-wal", "-shm"):
                tighten(path.with_name(path.name + suffix))
        engine = create_async_engine(
            url, pool_size=5, max_overflow=10, connect_args={"timeout": 30}
        )
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    return create_async_engine(
        url,
        # A fixed pool: connections open as concurrency needs them and stay open. An overflow
        # connection is closed on return whenever the pool is full, and under a burst of
        # votes the pool is full all the time: each overflow connection paid PostgreSQL's
        # fork and login, TLS negotiation, type introspection and the first plans of every
        # function and statement, only to be closed again (issue 17: ~10 % of a vote's
        # server CPU, more of PostgreSQL's). Requests beyond the pool wait their turn, up to
        # DATABASE_TIMEOUT_SECONDS, then get 503 as before.
        pool_size=settings.database_pool_size,
        max_overflow=0,
        # A ping is three round trips on asyncpg (BEGIN, ';', ROLLBACK) on every checkout.
        # Under row-level security every use of a connection starts with a statement that can
        # safely be tried again on a fresh connection when it finds a dead one (core/uow.py:
        # the RLS statement; party/read_model_caller.py: its one read), so the pool hands
        # connections out unpinged. Without RLS the first statement is a service's, which
        # may write: there the pool keeps pinging.
        pool_pre_ping=not settings.rls_enabled,
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


def insert_for(db: AsyncSession) -> Any:
    """The dialect's `insert` (both have ON CONFLICT DO NOTHING / DO UPDATE)."""
    return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
