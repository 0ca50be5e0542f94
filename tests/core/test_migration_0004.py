"""Migration 0004 on a database that already breaks its rule: a host with two active parties
(allowed before) keeps the newest; the older one ends and its members are released."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from queueit.core.engine import create_engine
from queueit.core.migrate import upgrade
from queueit.core.settings import Settings
from queueit.core.types import UTCDateTime
from tests.conftest import PG_URL, asyncpg_url, pg_available
from tests.services import migration_lock

NOW = datetime(2026, 12, 1, 20, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def _sql(statement: str, *ids: str) -> Any:
    """`statement` with its timestamps (`:t`) and ids typed, as both drivers need them."""
    typed = [bindparam("t", type_=UTCDateTime()), *(bindparam(i, type_=Uuid()) for i in ids)]
    return text(statement).bindparams(*typed)


async def _check(database_url: str) -> None:
    engine = create_engine(Settings(_env_file=None, database_url=database_url))
    host, guest, old, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        await upgrade(engine, "0003")
        async with engine.begin() as conn:
            await conn.execute(
                _sql(
                    "INSERT INTO users (id, music_provider, storefront, is_anonymous,"
                    " last_active_at, created_at) VALUES (:h, 'spotify', 'us', false, :t, :t),"
                    " (:g, 'none', 'us', true, :t, :t)",
                    "h",
                    "g",
                ),
                {"h": host, "g": guest, "t": NOW},
            )
            for party, code, at in ((old, "OLDER", NOW), (new, "NEWER", LATER)):
                await conn.execute(
                    _sql(
                        "INSERT INTO sessions (id, join_code, host_id, host_provider,"
                        " host_storefront, is_locked, is_paused, last_skip_was_crowdsourced,"
                        " version, created_at, last_activity_at) VALUES (:id, :code, :h,"
                        " 'spotify', 'us', false, false, false, 1, :t, :t)",
                        "id",
                        "h",
                    ),
                    {"id": party, "code": code, "h": host, "t": at},
                )
            await conn.execute(
                text("UPDATE users SET current_session_id = :s WHERE id = :g").bindparams(
                    bindparam("s", type_=Uuid()), bindparam("g", type_=Uuid())
                ),
                {"s": old, "g": guest},
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            ended = dict(
                (await conn.execute(text("SELECT join_code, end_reason FROM sessions"))).all()
            )
            member = (
                await conn.execute(
                    text(
                        "SELECT current_session_id, previous_session_id, joined_at FROM users"
                        " WHERE id = :g"
                    ).bindparams(bindparam("g", type_=Uuid())),
                    {"g": guest},
                )
            ).one()
        assert ended == {"OLDER": "host_opened_another", "NEWER": None}
        assert member[0] is None and uuid.UUID(str(member[1])) == old
        assert member[2] is None
    finally:
        await engine.dispose()


async def test_upgrade_ends_all_but_the_newest_party_of_each_host_sqlite(tmp_path: Path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


@pytest.fixture
def pg() -> bool:
    return pg_available()


async def test_upgrade_ends_all_but_the_newest_party_of_each_host_postgresql(pg: bool) -> None:
    if not pg:
        pytest.skip("PostgreSQL is not reachable")
    name = f"queueit_m0004_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(
        asyncpg_url(PG_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        async with migration_lock():  # the roles are cluster-wide: one worker at a time
            await _check(PG_URL.rsplit("/", 1)[0] + f"/{name}")
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
