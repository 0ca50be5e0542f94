"""Test infrastructure: every test gets a clean database, on SQLite always and on PostgreSQL
when it is reachable (required when QUEUEIT_REQUIRE_SERVICES=1). Each parallel worker has its
own PostgreSQL database and Redis database (tests/services.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from queueit.core.engine import create_engine
from queueit.core.migrate import upgrade
from queueit.core.settings import Settings
from queueit.main import create_app
from tests import services
from tests.services import asyncpg_url as asyncpg_url  # re-exported for the tests

PG_URL = services.worker_pg_url()
REDIS_URL = services.worker_redis_url()
REQUIRE_SERVICES = os.environ.get("QUEUEIT_REQUIRE_SERVICES") == "1"
# Strong enough for the production checks (tests/ops start production-mode servers with it).
TEST_SECRET = "test-local-secret-q7Vd2LkP9sXw4ZrT8nBc6MhJ3yFgA5eU"
TABLES = [
    "party_bans",
    "party_roles",
    "skip_requests",
    "votes",
    "queued_songs",
    "songs",
    "sessions",
    "users",
    "deleted_accounts",
]


async def _pg_reachable() -> bool:
    """The server answers on TEST_DATABASE_URL; this worker's database is then created."""
    engine = create_async_engine(
        asyncpg_url(services.BASE_PG_URL), poolclass=NullPool, connect_args={"timeout": 3}
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    finally:
        await engine.dispose()
    await services.ensure_database(PG_URL)
    return True


async def _redis_reachable() -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


_state: dict[str, Any] = {}


def pg_available() -> bool:
    if "pg" not in _state:
        _state["pg"] = asyncio.run(_pg_reachable())
        if not _state["pg"] and REQUIRE_SERVICES:
            pytest.fail(
                f"PostgreSQL is required (QUEUEIT_REQUIRE_SERVICES=1) but {PG_URL} is unreachable",
                pytrace=False,
            )
    return bool(_state["pg"])


def redis_available() -> bool:
    if "redis" not in _state:
        _state["redis"] = asyncio.run(_redis_reachable())
        if not _state["redis"] and REQUIRE_SERVICES:
            pytest.fail(
                f"Redis is required (QUEUEIT_REQUIRE_SERVICES=1) but {REDIS_URL} is unreachable",
                pytrace=False,
            )
    return bool(_state["redis"])


async def _reset_pg_schema() -> None:
    async with services.migration_lock():
        engine = create_async_engine(asyncpg_url(PG_URL), poolclass=NullPool)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
            await conn.execute(text("DROP TYPE IF EXISTS queue_status"))
        await engine.dispose()
        migrate_engine = create_engine(Settings(_env_file=None, database_url=PG_URL))
        await upgrade(migrate_engine)
        await migrate_engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sqlite-template")
    settings = Settings(_env_file=None, data_dir=directory)

    async def migrate() -> None:
        engine = create_engine(settings)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return directory / "queueit.db"


@pytest.fixture(scope="session")
def pg_schema() -> bool:
    if not pg_available():
        return False
    asyncio.run(_reset_pg_schema())
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql" and not request.getfixturevalue("pg_schema"):
        pytest.skip("PostgreSQL is not reachable")
    if name == "sqlite" and request.node.get_closest_marker("postgres_only"):
        pytest.skip("PostgreSQL-only test")
    return name


async def truncate_pg() -> None:
    engine = create_async_engine(asyncpg_url(PG_URL), poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    await engine.dispose()


@pytest.fixture
def database_url(backend: str, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if backend == "postgresql":
        asyncio.run(truncate_pg())
        yield PG_URL
    else:
        target = tmp_path / "data" / "queueit.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sqlite_template, target)
        yield f"sqlite+aiosqlite:///{target}"


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "local_jwt_secret": TEST_SECRET,
        "rate_limit_enabled": False,
        "log_level": "WARNING",
        "database_pool_size": 30,
        # A loaded machine can take seconds to hand out a connection to 50 concurrent
        # requests: the suite waits generously (tests of the timeout itself set their own).
        "database_timeout_seconds": 30.0,
        "realtime_redis_channel": services.worker_channel(),
        # Most tests build a party and use it at once: members count from the moment they
        # join. tests/party/test_sybil.py sets the real default (60 s) where it matters.
        "established_member_seconds": 0,
        # Every test client comes from 127.0.0.1: without this, three guests of a test would
        # count as two. tests/party/test_sybil.py turns the cap on (with distinct addresses).
        "members_counted_per_address": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    return make_settings(database_url, tmp_path / "data", **settings_overrides)


@pytest.fixture
def vote_path(request: pytest.FixtureRequest) -> str:
    """Which path a vote takes on PostgreSQL with row-level security: "fast" (the default:
    one statement where it applies, party/vote_fast_path.py) or "general" (party/voting.py
    in a unit of work). Modules marked `vote_twin` run every test with both."""
    return str(getattr(request, "param", "fast"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A `vote_twin` module's tests run twice on PostgreSQL, once per vote path: the fast
    twin must answer and write what the rule's general path does (docs/RLS.md)."""
    if metafunc.definition.get_closest_marker("vote_twin") and "app" in metafunc.fixturenames:
        metafunc.parametrize("vote_path", ["fast", "general"], indirect=True)


@pytest.fixture
async def app(settings: Settings, vote_path: str) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        if vote_path == "general":
            application.state.ctx.vote_fast_path.enabled = False
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests (and a `vote_twin` test's general-path copy) are not collected
    for SQLite at all (not even as skips), and the
    slow tests run first, so parallel workers do not end waiting for one long test."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("backend") == "sqlite"
        # SQLite has only the general path: its `vote_twin` copy would run the same twice.
        twin = callspec is not None and callspec.params.get("vote_path") == "general"
        only_pg = item.get_closest_marker("postgres_only") or twin
        (dropped if on_sqlite and only_pg else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    kept.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: order kept
    items[:] = kept


@pytest.fixture
def redis_url() -> str:
    """This worker's Redis database (tests/services.py); skips when unreachable, fails with
    QUEUEIT_REQUIRE_SERVICES=1. Use this fixture from async tests: `redis_available()`
    cannot run inside an event loop."""
    if not redis_available():
        pytest.skip("Redis is not reachable")
    from redis import Redis

    with Redis.from_url(REDIS_URL) as client:
        client.flushdb()  # the worker owns its database: start each test from nothing
    return REDIS_URL
