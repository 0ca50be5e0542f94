"""GET /sessions/current in one statement on PostgreSQL (party/read_model_caller.py, migration
0008): the caller gets the bytes and the errors the general path gives, row-level security
still decides what the statement sees, and a killed database connection costs no request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text, update

from queueit.core import rls
from queueit.party import read_model_caller
from queueit.users.models import User
from tests.factories import auth, make_host, make_user, token_for, track

API = "/api/v1"
CURRENT = f"{API}/sessions/current"


async def _party(client: httpx.AsyncClient, code: str) -> tuple[dict[str, str], dict[str, str]]:
    """A party with three songs (one playing), and a guest who voted and asked to skip."""
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    for n in range(3):
        added = await client.post(f"{API}/songs/add", json=track(f"{code}-{n}"), headers=host)
        assert added.status_code == 200, added.text
    guest = await make_user(client, anonymous=True)
    joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    body = (await client.get(CURRENT, headers=guest)).json()
    song = body["queue"][0]["id"]
    voted = await client.post(f"{API}/songs/{song}/vote", json={"vote_value": 1}, headers=guest)
    assert voted.status_code == 200, voted.text
    skipped = await client.post(f"{API}/sessions/request_skip", headers=guest)
    assert skipped.status_code == 200, skipped.text
    return host, guest


async def _general(app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str]) -> bytes:
    """The answer of the general path (a unit of work and the caller's ORM row)."""
    fast = app.state.ctx.fast_path
    enabled, fast.enabled = fast.enabled, False
    try:
        response = await client.get(CURRENT, headers=headers)
    finally:
        fast.enabled = enabled
    assert response.status_code == 200, response.text
    return response.content


@contextmanager
def _transactions(app: FastAPI) -> Iterator[list[str]]:
    """The transactions the app's engine begins meanwhile."""
    engine = app.state.ctx.database.engine.sync_engine
    begun: list[str] = []

    def seen(_conn: Any) -> None:
        begun.append("begin")

    event.listen(engine, "begin", seen)
    try:
        yield begun
    finally:
        event.remove(engine, "begin", seen)


async def test_a_hit_answers_the_general_paths_bytes(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    host, guest = await _party(client, "FASTB")
    assert app.state.ctx.fast_path.enabled == (backend == "postgresql")
    for headers in (guest, host):
        expected = await _general(app, client, headers)
        with _transactions(app) as begun:
            response = await client.get(CURRENT, headers=headers)
        assert response.status_code == 200
        assert response.content == expected
        # On PostgreSQL the hit is the one statement, outside any unit of work.
        assert begun == ([] if backend == "postgresql" else ["begin"])
    body = json.loads(response.content)
    assert body["my_role"] == "host"
    mine = json.loads(await _general(app, client, guest))
    assert mine["user_requested_skip"] is True and list(mine["my_votes"].values()) == [1]


async def test_errors_are_the_general_paths(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    host, guest = await _party(client, "FASTE")
    assert (await client.get(CURRENT, headers=guest)).status_code == 200  # a document cached
    cases: list[tuple[dict[str, str], int, str]] = [
        ({}, 401, "token_missing"),
        ({"Authorization": "Basic abc"}, 401, "token_invalid"),
        (auth(token_for(secret="not-the-server-secret-" + "z" * 40)), 401, "token_invalid"),
        (await make_user(client, anonymous=True), 404, "no_active_session"),
        # A guest's row with a local full-account token: only Supabase upgrades a guest.
        (auth(token_for(uuid.UUID(guest["X-Test-User"]))), 401, "guest_upgrade_unavailable"),
    ]
    for headers, status, code in cases:
        response = await client.get(CURRENT, headers=headers)
        assert response.status_code == status, (code, response.text)
        body = response.json()
        assert body["code"] == code
        assert body["request_id"] == response.headers["X-Request-ID"]
    gone = await make_user(client, anonymous=True)
    assert (await client.delete(f"{API}/users/me", headers=gone)).status_code == 204
    deleted = await client.get(CURRENT, headers=gone)
    assert deleted.status_code == 401 and deleted.json()["code"] == "account_deleted"
    ended = await client.post(f"{API}/sessions/end", headers=host)
    assert ended.status_code in (200, 204), ended.text
    after = await client.get(CURRENT, headers=guest)
    assert after.status_code == 404 and after.json()["code"] == "no_active_session"


async def test_presence_is_still_written(app: FastAPI, client: httpx.AsyncClient) -> None:
    _host, guest = await _party(client, "FASTP")
    user_id = uuid.UUID(guest["X-Test-User"])
    stale = datetime.now(UTC) - timedelta(minutes=5)
    async with app.state.ctx.database.sessionmaker() as db:
        await db.execute(update(User).where(User.id == user_id).values(last_active_at=stale))
        await db.commit()
    assert (await client.get(CURRENT, headers=guest)).status_code == 200
    async with app.state.ctx.database.sessionmaker() as db:
        user = await db.get(User, user_id)
        assert user is not None
        assert user.last_active_at > datetime.now(UTC) - timedelta(seconds=30)


async def _caller_current(app: FastAPI, user_id: uuid.UUID, *, policy: str = "") -> list[tuple]:
    """queueit_rls.caller_current as the server calls it, in a transaction that first adds
    `policy` (rolled back)."""
    claims = json.dumps(rls.user_claims(user_id, is_anonymous=True))
    async with app.state.ctx.database.engine.connect() as connection:
        if policy:
            await connection.execute(text(policy))
        rows = await connection.execute(
            text("SELECT * FROM queueit_rls.caller_current(:claims, :sub)"),
            {"claims": claims, "sub": str(user_id)},
        )
        result = [tuple(row) for row in rows]
        await connection.rollback()
    return result


async def test_row_level_security_decides_inside_the_function(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    _host, guest = await _party(client, "FASTR")
    member = uuid.UUID(guest["X-Test-User"])
    [row] = await _caller_current(app, member)
    assert row[1] is not None and row[3] is not None  # the party and its version
    # The server's own login role passes every policy; a policy hiding the party from
    # queueit_user hides it from the function: its queries run as queueit_user.
    hidden = (
        "CREATE POLICY test_hide ON public.sessions AS RESTRICTIVE FOR SELECT"
        " TO queueit_user USING (false)"
    )
    [row] = await _caller_current(app, member, policy=hidden)
    assert row[1] is not None and row[3] is None
    outsider = uuid.UUID((await make_user(client, anonymous=True))["X-Test-User"])
    [row] = await _caller_current(app, outsider)
    assert row[1] is None and row[3] is None
    # Nothing outlives the statement on the pooled connection.
    async with app.state.ctx.database.engine.connect() as connection:
        await connection.execute(
            text("SELECT * FROM queueit_rls.caller_current(:claims, :sub)"),
            {"claims": json.dumps(rls.user_claims(member, is_anonymous=True)), "sub": str(member)},
        )
        await connection.commit()
        role = (await connection.execute(text("SELECT current_user"))).scalar_one()
        assert role != rls.RLS_USER_ROLE
        await connection.rollback()


async def _kill_the_pools_connections(app: FastAPI) -> int:
    """Terminate every backend of the app's pool from outside it (as a failover would)."""
    url = app.state.ctx.database.engine.url.set(drivername="postgresql")
    outside = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        killed = await outside.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'queueit' AND datname = current_database()"
        )
    finally:
        await outside.close()
    return int(killed)


async def test_a_killed_connection_costs_no_request(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("a server connection to kill is PostgreSQL's")
    _host, guest = await _party(client, "FASTK")
    requests = (
        ("GET", CURRENT, None),  # a read-model hit: the one statement
        ("GET", f"{API}/users/me", None),  # a unit of work that reads
        ("PATCH", f"{API}/users/me", {"display_name": "Still here"}),  # ... and one that writes
    )
    for method, path, body in requests:
        assert (await client.get(CURRENT, headers=guest)).status_code == 200
        assert await _kill_the_pools_connections(app) >= 1
        # The caller's row is kept after a hit (no round trip at all): forgotten here, the
        # read-model hit runs its statement.
        app.state.ctx.fast_path.callers = read_model_caller.Callers()
        # The pool still holds the killed connection: the next request finds it.
        response = await client.request(method, path, json=body, headers=guest)
        assert response.status_code == 200, (method, path, response.text)


async def test_a_database_without_the_function_answers_through_the_general_path(
    app: FastAPI, client: httpx.AsyncClient, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("the function is PostgreSQL's")
    _host, guest = await _party(client, "FASTU")
    expected = await _general(app, client, guest)
    missing = "SELECT * FROM queueit_rls.caller_current_missing($1, $2)"
    monkeypatch.setattr(read_model_caller, "_CALLER_CURRENT", missing)
    for _ in range(2):
        response = await client.get(CURRENT, headers=guest)
        assert response.status_code == 200 and response.content == expected
    assert app.state.ctx.fast_path.enabled is False  # asked once, then not again


async def test_no_connection_for_the_fast_path_is_the_general_paths_to_answer(
    app: FastAPI, client: httpx.AsyncClient, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout that fails (the database starting up) sends nothing: the general path
    answers (or 503 database_unavailable), never 500, and the fast path stays on."""
    if backend != "postgresql":
        pytest.skip("the function is PostgreSQL's")
    _host, guest = await _party(client, "FASTN")
    expected = await _general(app, client, guest)
    app.state.ctx.fast_path.callers = read_model_caller.Callers()  # nothing kept: ask
    engine = app.state.ctx.database.engine

    async def starting_up(_engine: Any) -> Any:
        raise engine.dialect.loaded_dbapi.Error("the database system is starting up")

    monkeypatch.setattr(type(engine), "raw_connection", starting_up)
    response = await client.get(CURRENT, headers=guest)
    assert response.status_code == 200 and response.content == expected
    assert app.state.ctx.fast_path.enabled is True
