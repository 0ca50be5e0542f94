"""The real services the suite talks to, one private copy per test worker.

`make test` runs the suite on parallel workers (pytest-xdist). Each worker gets:
- its own PostgreSQL database, `<TEST_DATABASE_URL's database>_<worker>` (`test_gw0`, ...),
  created on first use and migrated once per run;
- its own Redis database number, `TEST_REDIS_URL`'s number minus the worker's index
  (15, 14, ...), and its own realtime pub/sub channel (pub/sub ignores database numbers).
Without workers (`pytest -n 0`) the URLs are used as they are.

Migrations create cluster-wide roles (row-level security), so every schema reset and every
migration test holds one PostgreSQL advisory lock: workers never create or drop the roles at
the same time."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bench.harness import MIGRATION_LOCK_KEY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKER_INDEX = int(WORKER[2:]) if WORKER.startswith("gw") and WORKER[2:].isdigit() else 0
BASE_PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
BASE_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MAX_WORKERS = 8


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (query string kept)."""
    head, _, tail = url.rpartition("/")
    _, sep, query = tail.partition("?")
    return f"{head}/{name}{sep}{query}"


def database_name(url: str) -> str:
    return url.rpartition("/")[2].partition("?")[0]


def worker_pg_url(base: str = BASE_PG_URL) -> str:
    return with_database(base, f"{database_name(base)}_{WORKER}") if WORKER else base


def worker_redis_url(base: str = BASE_REDIS_URL) -> str:
    if not WORKER:
        return base
    if WORKER_INDEX >= MAX_WORKERS:
        raise RuntimeError(f"at most {MAX_WORKERS} test workers have a Redis database each")
    head, _, number = base.rpartition("/")
    return f"{head}/{int(number or 0) - WORKER_INDEX}"


def worker_channel() -> str:
    """Pub/sub channels are global to a Redis server: named after the worker's database, so
    two checkouts' suites running at once never hear each other either."""
    return f"queueit:test:{database_name(worker_pg_url())}:events"


def asyncpg_url(url: str) -> str:
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


async def ensure_database(url: str) -> None:
    """Create the database of `url` when it does not exist (connecting to the base database,
    which must exist: it is the one TEST_DATABASE_URL names)."""
    name = database_name(url)
    if name == database_name(BASE_PG_URL):
        return
    admin = create_async_engine(
        asyncpg_url(BASE_PG_URL),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": 3},
    )
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def migration_lock() -> AsyncIterator[None]:
    """Held while a worker creates, migrates or drops a schema (cluster-wide roles)."""
    engine = create_async_engine(
        asyncpg_url(with_database(BASE_PG_URL, "postgres")),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
    finally:
        await engine.dispose()
