"""Migrations upgrade from empty, downgrade to nothing, and upgrade again, on both databases."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from queueit.core.engine import create_engine
from queueit.core.migrate import downgrade, upgrade
from queueit.core.settings import Settings
from tests.conftest import PG_URL, asyncpg_url, pg_available
from tests.services import migration_lock

EXPECTED = {
    "users",
    "sessions",
    "songs",
    "queued_songs",
    "votes",
    "skip_requests",
    "deleted_accounts",
    "party_roles",
    "party_bans",
    "fallback_sources",
    "fallback_tracks",
}
# The tables of 0001 (migrations 0006 and 0007 added roles, bans and the fallback source).
INITIAL = EXPECTED - {"party_roles", "party_bans", "fallback_sources", "fallback_tracks"}


async def _tables(engine: object) -> set[str]:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    return names - {"alembic_version"}


async def _rls(engine: object) -> tuple[set[str], int, bool]:
    """PostgreSQL: (tables with forced row-level security, policies, helper schema present)."""
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        forced = await conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                " AND relrowsecurity AND relforcerowsecurity"
            )
        )
        policies = await conn.scalar(text("SELECT count(*) FROM pg_policies"))
        helpers = await conn.scalar(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = 'queueit_rls'")
        )
    return {row[0] for row in forced}, int(policies), bool(helpers)


async def _helper_bodies(engine: object) -> dict[str, tuple[str, str]]:
    """PostgreSQL: each queueit_rls function's (language, body), by signature."""
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(
            text(
                "SELECT p.oid::regprocedure::text, l.lanname, p.prosrc FROM pg_proc p"
                " JOIN pg_language l ON l.oid = p.prolang"
                " WHERE p.pronamespace = 'queueit_rls'::regnamespace"
            )
        )
    return {row[0]: (row[1], row[2]) for row in rows}


async def _helpers_roundtrip(engine: object) -> None:
    """Migration 0010: no helper is left in SQL (planned on every call); its downgrade gives
    back exactly the SQL bodies it replaced, and upgrading again converts them again."""
    assert {language for language, _body in (await _helper_bodies(engine)).values()} == {"plpgsql"}
    await downgrade(engine, "0010")
    converted = await _helper_bodies(engine)
    await downgrade(engine, "0009")
    before = await _helper_bodies(engine)
    sql = {name for name, (language, _body) in before.items() if language == "sql"}
    assert "queueit_rls.votable(uuid)" in sql and len(sql) >= 20
    for name in sql:
        body = before[name][1].strip().rstrip(";")
        once = body.replace("auth.uid()", "(SELECT auth.uid())")
        assert converted[name][1] == f" BEGIN RETURN ({once}); END "
    for name in before.keys() - sql:  # the PL/pgSQL functions are untouched
        assert before[name] == converted[name]
    await upgrade(engine, "0010")
    assert await _helper_bodies(engine) == converted
    await upgrade(engine)


# What a settled vote writes (party/vote_repository.py, queueit_rls.cast_vote): while none of
# these is in an index, PostgreSQL updates both rows heap-only (HOT), touching no index.
VOTE_WRITES = {
    "queued_songs": {"votes", "entered_tier_by_gain", "last_entered_tier_at", "is_fallback"},
    "sessions": {"version", "last_activity_at"},
}


def _names(expression: str) -> str:
    """SQL: the index's expression or predicate names the column `a` (a whole word)."""
    return f"coalesce(pg_get_expr({expression}, i.indrelid), '') ~ ('\\m' || a.attname || '\\M')"


async def _vote_writes_indexed(engine: object) -> set[tuple[str, str]]:
    """PostgreSQL: the (table, column) pairs among VOTE_WRITES that some index names, as a
    key, in an expression or in its predicate."""
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(
            text(
                "SELECT c.relname, a.attname FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indrelid"
                " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum > 0"
                " WHERE c.relnamespace = 'public'::regnamespace"
                " AND c.relname IN ('queued_songs', 'sessions')"
                " AND (a.attnum = ANY (i.indkey)"
                f" OR {_names('i.indexprs')} OR {_names('i.indpred')})"
            )
        )
    return {(t, c) for t, c in rows if c in VOTE_WRITES[t]}


async def _hot_roundtrip(engine: object) -> None:
    """Migration 0012: no column a vote writes is indexed, and both tables leave room on
    their pages; its downgrade restores the two indexes that named one."""
    assert await _vote_writes_indexed(engine) == set()
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        options = await conn.execute(
            text(
                "SELECT relname, reloptions FROM pg_class WHERE relnamespace ="
                " 'public'::regnamespace AND relname IN ('queued_songs', 'sessions')"
            )
        )
        assert dict(options.all()) == {
            "queued_songs": ["fillfactor=90"],
            "sessions": ["fillfactor=70"],
        }
    await downgrade(engine, "0011")
    assert await _vote_writes_indexed(engine) == {
        ("queued_songs", "votes"),
        ("sessions", "last_activity_at"),
    }
    await upgrade(engine)


async def _roundtrip(url: str, data_dir: Path) -> None:
    engine = create_engine(Settings(_env_file=None, database_url=url, data_dir=data_dir))
    postgresql = engine.dialect.name == "postgresql"
    try:
        await upgrade(engine)
        assert await _tables(engine) == EXPECTED
        if postgresql:
            forced, policies, helpers = await _rls(engine)
            assert forced == EXPECTED and policies > len(EXPECTED) and helpers
            await _helpers_roundtrip(engine)
            await _hot_roundtrip(engine)
            await downgrade(engine, "0001")  # row-level security off, the schema intact
            assert await _tables(engine) == INITIAL
            assert await _rls(engine) == (set(), 0, False)
        await downgrade(engine)
        assert await _tables(engine) == set()
        await upgrade(engine)
        assert await _tables(engine) == EXPECTED
    finally:
        await engine.dispose()


async def test_sqlite_migrations_roundtrip(tmp_path: Path) -> None:
    await _roundtrip(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", tmp_path)


@pytest.fixture
def pg() -> bool:
    return pg_available()  # probed outside the test's event loop


async def test_postgresql_migrations_roundtrip(pg: bool, tmp_path: Path) -> None:
    if not pg:
        pytest.skip("PostgreSQL is not reachable")
    name = f"queueit_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(
        asyncpg_url(PG_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        async with migration_lock():  # the roles are cluster-wide: one worker at a time
            await _roundtrip(PG_URL.rsplit("/", 1)[0] + f"/{name}", tmp_path)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
