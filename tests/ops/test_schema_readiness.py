"""A server on a database that is not at its migration head says so (issue 21, item 3):
`/readyz` 503 `schema_behind`/`schema_ahead`, API requests 503 `database_not_ready` at once,
and ready without a restart once `queueit migrate` has run."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from queueit.core.schema import script_head
from queueit.core.settings import Settings
from queueit.main import create_app
from tests.conftest import PG_URL, TEST_SECRET, make_settings, pg_available
from tests.factories import auth, token_for
from tests.ops.procs import clean_env, free_port, json_lines, queueit, start_serve, stop
from tests.services import asyncpg_url, database_name, migration_lock, with_database


@pytest.fixture
def pg() -> bool:
    return pg_available()  # probed outside the test's event loop


@pytest.fixture
async def empty_pg(pg: bool) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database named after this worker's (parallel workers never
    collide), dropped afterwards."""
    if not pg:
        pytest.skip("PostgreSQL is not reachable")
    name = f"{database_name(PG_URL)}_empty_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(
        asyncpg_url(PG_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(PG_URL, name)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "environment": "test",
        "database_url": database_url,
        "data_dir": str(tmp_path / "data"),
        "local_jwt_secret": TEST_SECRET,
        "log_json": "true",
        "log_level": "INFO",
        "rate_limit_enabled": "false",
        **extra,
    }


def _wait_answering(process: subprocess.Popen[bytes], base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited early with {process.returncode}"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} did not answer within {timeout}s")


def _timed_get(client: httpx.Client, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(path, **kwargs)
    return response, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.postgres_only
async def test_an_empty_database_is_not_ready_until_migrated(empty_pg: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process, _, err = start_serve(tmp_path, port, **_env(tmp_path, empty_pg))
    try:
        _wait_answering(process, base)
        with httpx.Client(base_url=base, timeout=10) as client:
            ready, seconds = _timed_get(client, "/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["status"] == "unavailable"
            assert ready.json()["checks"]["database"] == "schema_behind"
            assert seconds < 1.0
            api, seconds = _timed_get(client, "/api/v1/users/me", headers=auth(token_for()))
            assert api.status_code == 503, api.text
            body = api.json()
            assert body["code"] == "database_not_ready"
            assert "queueit migrate" in body["detail"]
            assert body["request_id"] == api.headers["X-Request-ID"]
            assert api.headers["Retry-After"] == "5"
            assert seconds < 1.0
            party = uuid.uuid4()
            socket_url = f"ws://127.0.0.1:{port}/api/v1/sessions/{party}/realtime"
            async with connect(socket_url, open_timeout=5) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

            async with migration_lock():  # the migration creates cluster-wide roles
                migrated = subprocess.run(
                    queueit("migrate"),
                    env=clean_env(**_env(tmp_path, empty_pg)),
                    cwd=tmp_path,
                    capture_output=True,
                    timeout=120,
                    check=False,
                )
            assert migrated.returncode == 0, migrated.stderr.decode()

            deadline = time.monotonic() + 10
            while (ready := client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.1)
            assert ready.json()["checks"]["database"] == "ok"
            me = client.get("/api/v1/users/me", headers=auth(token_for()))
            assert me.status_code == 200, me.text
    finally:
        stop(process)
    records = json_lines(err.read_text())
    [not_ready] = [r for r in records if r.get("event") == "database_schema_not_ready"]
    assert not_ready["hint"] == "run `queueit migrate`"
    assert not_ready["state"] == "schema_behind"
    assert not_ready["expected_revision"] == script_head()
    assert not_ready["database_revision"] is None
    assert "database_schema_ready" in [r.get("event") for r in records]
    assert not [r for r in records if r.get("event") == "unhandled_error"]


@pytest.mark.slow
@pytest.mark.postgres_only
async def test_migrate_on_start_serves_an_empty_database(empty_pg: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with migration_lock():  # held while the server migrates on start
        process, _, _ = start_serve(
            tmp_path, port, **_env(tmp_path, empty_pg, migrate_on_start="true")
        )
        try:
            _wait_answering(process, base, timeout=60)
        except BaseException:
            stop(process)
            raise
    try:
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        me = httpx.get(f"{base}/api/v1/users/me", headers=auth(token_for()), timeout=10)
        assert me.status_code == 200, me.text
    finally:
        stop(process)


def test_migrate_on_start_defaults() -> None:
    sqlite = Settings(_env_file=None)
    postgres = Settings(_env_file=None, database_url="postgresql://u@h/db")
    assert sqlite.migrates_on_start is True  # `make run` and `queueit serve` as before
    assert postgres.migrates_on_start is False  # a release step, not every replica's start
    assert Settings(_env_file=None, database_url="postgresql://u@h/db", migrate_on_start="true")
    assert Settings(_env_file=None, migrate_on_start="false").migrates_on_start is False
    assert Settings(_env_file=None, migrate_on_start="").migrates_on_start is True


async def _stamp(database_url: str, revision: str) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_newer_schema_is_ahead_and_refused_until_fixed(
    database_url: str, tmp_path: Path
) -> None:
    await _stamp(database_url, "9999_from_a_newer_release")
    app = create_app(make_settings(database_url, tmp_path / "data"))
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == "schema_ahead"
            api = await client.post("/api/v1/sessions/join", json={"code": "ABCDEF"})
            assert api.status_code == 503
            assert api.json()["code"] == "database_not_ready"
            assert (await client.get("/healthz")).status_code == 200  # alive, not ready

            await _stamp(database_url, script_head())  # the right code is deployed / migrated
            deadline = time.monotonic() + 10
            while (ready := await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                await asyncio.sleep(0.1)
            me = await client.get("/api/v1/users/me", headers=auth(token_for()))
            assert me.status_code == 200
