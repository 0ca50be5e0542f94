"""Hostile guests, attack 5 (weak production guardrails): a production start with a secret
of one repeated character is refused, naming the setting; the app built in production mode
serves no /metrics on its public port without METRICS_TOKEN and no /docs, /redoc or
/openapi.json unless DOCS_ENABLED=true."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from queueit.core.settings import Settings, secret_weakness
from queueit.main import create_app
from tests.auth.test_cli import ENV_NAMES, run
from tests.conftest import make_settings

STRONG = secrets.token_urlsafe(48)
DOC_PATHS = ("/docs", "/redoc", "/openapi.json")


@pytest.fixture(autouse=True)
def no_queueit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_NAMES, "METRICS_TOKEN", "DOCS_ENABLED", "ALLOW_SQLITE_IN_PRODUCTION"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("a" * 32, "fewer than 8 different characters"),
        ("ab" * 40, "fewer than 8 different characters"),
        ("a" * 40 + "bcdefghijklmnopq", "more than a third one character"),
        ("a" * 10 + "b" * 10 + "c" * 6 + "defghi", "bits of entropy"),
        ("0123456789abcdef" * 4, "repeats a pattern of 16 characters"),
        ("short", "shorter than 32"),
        ("super-secret-jwt-token-with-at-least-32-characters-long", "published example"),
    ],
)
def test_weak_secrets_are_named(secret: str, why: str) -> None:
    weakness = secret_weakness(secret)
    assert weakness is not None and why in weakness


@pytest.mark.parametrize(
    "make",
    [lambda: secrets.token_urlsafe(48), lambda: secrets.token_hex(32)],
    ids=["urlsafe", "hex"],
)
def test_generated_secrets_pass(make: Callable[[], str]) -> None:
    # Drawn in the test, not at collection: parallel workers must collect the same ids.
    for _ in range(20):
        assert secret_weakness(make()) is None


@pytest.mark.parametrize("setting", ["LOCAL_JWT_SECRET", "SUPABASE_JWT_SECRET", "METRICS_TOKEN"])
async def test_production_refuses_to_start_with_a_repeated_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ALLOW_SQLITE_IN_PRODUCTION", "true")
    monkeypatch.setenv("LOCAL_JWT_SECRET", STRONG)
    monkeypatch.setenv(setting, "a" * 32)
    code, _, err = await run(["serve", "--port", "1"], capsys)
    assert code == 2
    refusals = [line for line in err.splitlines() if "refusing to start" in line]
    assert len(refusals) == 1, err
    assert setting in refusals[0] and "fewer than 8 different characters" in refusals[0]
    assert not (tmp_path / "data" / "queueit.db").exists()


def production(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return make_settings(
        database_url,
        data_dir,
        environment="production",
        allow_sqlite_in_production=True,
        local_jwt_secret=STRONG,
        allowed_origins=["https://party.example"],
        **overrides,
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_production_hides_metrics_and_docs(database_url: str, tmp_path: Path) -> None:
    async with serving(production(database_url, tmp_path / "data")) as client:
        assert (await client.get("/healthz")).status_code == 200
        metrics = await client.get("/metrics")
        assert metrics.status_code == 404, metrics.text
        assert metrics.json()["code"] == "not_found"
        for path in DOC_PATHS:
            assert (await client.get(path)).status_code == 404, path


async def test_production_metrics_need_the_token(database_url: str, tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    settings = production(database_url, tmp_path / "data", metrics_token=token)
    async with serving(settings) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, refused.text
            assert "queueit_" not in refused.text
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        assert "queueit_" in allowed.text


async def test_docs_can_be_enabled_in_production(database_url: str, tmp_path: Path) -> None:
    settings = production(database_url, tmp_path / "data", docs_enabled=True)
    async with serving(settings) as client:
        for path in DOC_PATHS:
            assert (await client.get(path)).status_code == 200, path


async def test_development_keeps_docs_and_metrics(client: httpx.AsyncClient) -> None:
    for path in (*DOC_PATHS, "/metrics"):
        assert (await client.get(path)).status_code == 200, path
