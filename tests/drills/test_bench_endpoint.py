"""The benchmark-only route (src/queueit/health/bench.py): absent unless BENCH_ENDPOINTS is
set, never in the OpenAPI schema, refused in production, and when mounted it answers exactly
the bytes GET /sessions/current gave."""

from __future__ import annotations

from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from queueit.core.settings import Settings
from queueit.health.bench import PAYLOAD_FILE
from queueit.main import create_app
from tests.conftest import make_settings
from tests.factories import make_host, track

API = "/api/v1"


async def test_absent_by_default(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get("/bench/current")).status_code == 404
    assert "/bench/current" not in app.openapi()["paths"]


async def test_answers_the_same_bytes_when_enabled(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", bench_endpoints=True)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            host = await make_host(client)
            created = await client.post(f"{API}/sessions/create", json={}, headers=host)
            assert created.status_code == 200, created.text
            for n in range(3):
                await client.post(f"{API}/songs/add", json=track(n), headers=host)
            real = await client.get(f"{API}/sessions/current", headers=host)
            assert real.status_code == 200
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            (settings.data_dir / PAYLOAD_FILE).write_bytes(real.content)
            bare = await client.get("/bench/current")
            assert bare.status_code == 200
            assert bare.content == real.content
            assert "/bench/current" not in app.openapi()["paths"]


def test_refused_in_production() -> None:
    settings = Settings(
        _env_file=None,
        environment="production",
        database_url="postgresql://db.invalid/queueit",
        local_jwt_secret="p" * 48,
        bench_endpoints=True,
    )
    assert any("BENCH_ENDPOINTS" in problem for problem in settings.production_problems())
