"""The `queueit` command: `token` prints a local-mode token for a named user, `migrate` builds
the embedded database, the generated local secret is private and reused."""

from __future__ import annotations

import asyncio
import logging
import stat
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jwt
import pytest
import structlog
from asgi_lifespan import LifespanManager

from queueit import cli
from queueit.core.security import local_secret
from queueit.core.settings import Settings
from queueit.main import create_app
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import auth

ME = "/api/v1/users/me"
ENV_NAMES = (
    "DATA_DIR",
    "DATABASE_URL",
    "LOCAL_JWT_SECRET",
    "SUPABASE_URL",
    "SUPABASE_JWT_SECRET",
    "ENVIRONMENT",
    "LOG_LEVEL",
)


@pytest.fixture(autouse=True)
def no_queueit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


async def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`queueit ARGS` as in a new process: structlog unconfigured (its default prints to
    stdout), its own event loop (a worker thread); the test's logging is restored after."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    capsys.readouterr()
    structlog.reset_defaults()
    try:
        code = await asyncio.to_thread(cli.main, args)
    finally:
        structlog.configure(**saved)
        root.handlers, root.level = handlers, level
    out, err = capsys.readouterr()
    return code, out, err


def use_database(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LOCAL_JWT_SECRET", settings.local_jwt_secret)


def claims_of(token: str, secret: str = TEST_SECRET) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token, secret, algorithms=["HS256"], audience="authenticated"
    )
    return claims


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_token_is_for_a_named_user_who_can_host(
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_database(monkeypatch, settings)
    code, out, err = await run(["token", "--username", "DJ-Sam"], capsys)
    assert code == 0, err
    assert len(out.splitlines()) == 1, out  # stdout is the token and nothing else
    token = out.strip()
    claims = claims_of(token)
    assert claims["is_anonymous"] is False
    assert claims["role"] == "authenticated"

    me = await client.get(ME, headers=auth(token))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "DJ-Sam"
    assert me.json()["is_anonymous"] is False
    assert me.json()["music_provider"] == "spotify"
    created = await client.post("/api/v1/sessions/create", json={}, headers=auth(token))
    assert created.status_code == 200, created.text
    assert created.json()["session"]["host"]["username"] == "DJ-Sam"

    # The same name in another case is the same user.
    code, again, _ = await run(["token", "--username", "dj-sam", "--ttl", "60"], capsys)
    assert code == 0
    second = claims_of(again.strip())
    assert second["sub"] == claims["sub"]
    assert int(str(second["exp"])) - int(str(second["iat"])) == 60


@pytest.mark.parametrize("provider", ["apple", "none"])
async def test_provider_option_sets_a_new_users_provider(
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    provider: str,
) -> None:
    use_database(monkeypatch, settings)
    code, out, err = await run(
        ["token", "--username", f"user-{provider}", "--provider", provider], capsys
    )
    assert code == 0, err
    me = await client.get(ME, headers=auth(out.strip()))
    assert me.json()["music_provider"] == provider


@pytest.mark.parametrize(
    "args",
    [
        ["token", "--username", "ab"],
        ["token", "--username", "has space"],
        ["token", "--username", "x" * 31],
        ["token", "--username", "ok-name", "--ttl", "0"],
        ["token", "--username", "ok-name", "--ttl", "-5"],
    ],
)
async def test_bad_token_arguments_fail_without_a_token(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    use_database(monkeypatch, settings)
    code, out, err = await run(args, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("queueit: ")


async def test_no_local_tokens_in_supabase_mode(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_database(monkeypatch, settings)
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "supabase-legacy-jwt-secret-" + "s" * 32)
    code, out, err = await run(["token", "--username", "dj-sam"], capsys)
    assert code == 2
    assert out == ""
    assert "Supabase" in err


async def test_fresh_data_dir_token_then_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """First run with nothing configured: the embedded database is created, the secret is
    generated privately, the token is the only output, and the server accepts it."""
    data_dir = tmp_path / "fresh"
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    code, out, err = await run(["token", "--username", "first-user"], capsys)
    assert code == 0, err
    assert len(out.splitlines()) == 1, out
    token = out.strip()

    secret_file = data_dir / "local_jwt_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32
    claims_of(token, secret)

    # The secret is reused by later commands and by the server.
    code, out2, _ = await run(["token", "--username", "first-user"], capsys)
    assert code == 0
    assert secret_file.read_text().strip() == secret
    assert claims_of(out2.strip(), secret)["sub"] == claims_of(token, secret)["sub"]

    settings = make_settings("", data_dir, local_jwt_secret="")
    async with serving(settings) as client:
        me = await client.get(ME, headers=auth(token))
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "first-user"
        guest = (await client.post("/api/v1/auth/anonymous")).json()["access_token"]
    assert secret_file.read_text().strip() == secret
    async with serving(settings) as client:  # a restart keeps guests signed in
        assert (await client.get(ME, headers=auth(guest))).status_code == 200


async def test_migrate_builds_the_embedded_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    code, out, err = await run(["migrate"], capsys)
    assert code == 0, err
    assert out == ""
    assert "up to date" in err
    assert (tmp_path / "data" / "queueit.db").exists()
    code, _, err = await run(["migrate"], capsys)  # idempotent
    assert code == 0, err


async def test_serve_refuses_an_unsafe_production_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ENVIRONMENT", "production")
    code, _, err = await run(["serve", "--port", "1"], capsys)
    assert code == 2
    assert "LOCAL_JWT_SECRET" in err
    assert "SQLite" in err


def test_concurrent_first_runs_agree_on_one_secret(tmp_path: Path) -> None:
    """Several workers starting at once on a fresh data dir must share one secret, or tokens
    signed by one worker would be refused by another."""
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", log_level="WARNING")
    barrier = threading.Barrier(8)
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        results.append(local_secret(settings))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert (tmp_path / "data" / "local_jwt_secret").read_text().strip() == results[0]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["local_jwt_secret"]
