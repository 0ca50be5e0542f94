"""Row-level security of party roles (migration 0006, docs/RLS.md "Party roles and bans"):
with the service's checks bypassed (raw SQL as queueit_user with a caller's claims), a co-host
locks but cannot end the party, only the host grants co-host, guests ban nobody, outsiders
read no roles. Every statement is rolled back."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from queueit.main import create_app
from tests.conftest import PG_URL, asyncpg_url, make_settings, truncate_pg
from tests.factories import make_host, make_user

pytestmark = pytest.mark.postgres_only

API = "/api/v1"
REFUSED = "refused"


@dataclass(frozen=True)
class Roles:
    session: str
    host: str
    co_host: str
    guest: str
    outsider: str


async def _build(data_dir: Path) -> Roles:
    await truncate_pg()
    app = create_app(make_settings(PG_URL, data_dir))
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        host, co_host, guest = (
            await make_host(client),
            await make_user(client, anonymous=True),
            await make_user(client, anonymous=True),
        )
        outsider = await make_host(client)
        created = await client.post(
            f"{API}/sessions/create", json={"join_code": "RLS-ROLES"}, headers=host
        )
        session = created.json()["session"]["id"]
        for member in (co_host, guest):
            joined = await client.post(
                f"{API}/sessions/join", json={"join_code": "RLS-ROLES"}, headers=member
            )
            assert joined.status_code == 200
        granted = await client.post(
            f"{API}/sessions/{session}/members/{co_host['X-Test-User']}/co-host", headers=host
        )
        assert granted.status_code == 200, granted.text
    return Roles(
        session=session,
        host=host["X-Test-User"],
        co_host=co_host["X-Test-User"],
        guest=guest["X-Test-User"],
        outsider=outsider["X-Test-User"],
    )


@pytest.fixture(scope="module")
def roles(pg_schema: bool, tmp_path_factory: pytest.TempPathFactory) -> Roles:
    if not pg_schema:
        pytest.skip("PostgreSQL is not reachable")
    return asyncio.run(_build(tmp_path_factory.mktemp("rls-roles")))


async def _as(user_id: str, sql: str, params: dict[str, Any]) -> int | str:
    """Rows `sql` read or wrote as `user_id` (rolled back), or REFUSED."""
    engine = create_async_engine(asyncpg_url(PG_URL), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            claims = {"sub": user_id, "role": "authenticated", "is_anonymous": False}
            await conn.execute(
                text("SELECT set_config('request.jwt.claims', :claims, true)"),
                {"claims": json.dumps(claims)},
            )
            await conn.execute(text("SET LOCAL ROLE queueit_user"))
            try:
                result = await conn.execute(text(sql), params)
            except DBAPIError:
                return REFUSED
            finally:
                await conn.rollback()
            return len(result.all()) if result.returns_rows else int(result.rowcount)
    finally:
        await engine.dispose()


def run(roles: Roles, actor: str, sql: str) -> int | str:
    params = {
        "session": roles.session,
        "host": roles.host,
        "co_host": roles.co_host,
        "guest": roles.guest,
        "me": getattr(roles, actor),
    }
    return asyncio.run(_as(getattr(roles, actor), sql, params))


LOCK = "UPDATE sessions SET is_locked = true, version = version + 1 WHERE id = :session"
END = "UPDATE sessions SET ended_at = now(), end_reason = 'x' WHERE id = :session"
GRANT = "INSERT INTO party_roles (session_id, user_id, role) VALUES (:session, :guest, 'co_host')"
REVOKE = "DELETE FROM party_roles WHERE session_id = :session AND user_id = :co_host"
BAN = (
    "INSERT INTO party_bans (session_id, user_id, banned_at, banned_by)"
    " VALUES (:session, :guest, now(), :me)"
)
READ_ROLES = "SELECT * FROM party_roles WHERE session_id = :session"


@pytest.mark.parametrize(
    ("actor", "sql", "expected"),
    [
        ("co_host", LOCK, 1),
        ("guest", LOCK, REFUSED),
        ("host", END, 1),
        ("co_host", END, REFUSED),
        ("host", GRANT, 1),
        ("co_host", GRANT, REFUSED),
        ("guest", GRANT, REFUSED),
        ("host", REVOKE, 1),
        ("co_host", REVOKE, 0),
        ("co_host", BAN, 1),
        ("host", BAN, 1),
        ("guest", BAN, REFUSED),
        ("guest", READ_ROLES, 1),
        ("outsider", READ_ROLES, 0),
    ],
)
def test_party_roles_under_row_level_security(
    roles: Roles, actor: str, sql: str, expected: int | str
) -> None:
    assert run(roles, actor, sql) == expected
