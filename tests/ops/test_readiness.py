"""/readyz: Redis down keeps the API serving (200 degraded); only the database decides 503."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from queueit.health import service
from queueit.main import create_app
from tests.conftest import make_settings

CLOSED_REDIS = "redis://127.0.0.1:1/0"


async def test_redis_down_is_degraded_not_unavailable(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        database_url,
        tmp_path / "data",
        redis_url=CLOSED_REDIS,
        realtime_redis_timeout_seconds=0.2,
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30):
        assert app.state.ctx.redis is not None  # the app made a client for REDIS_URL
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
            assert response.status_code == 200
            body = response.json()
            assert body["status"] == "degraded"
            assert body["checks"]["database"] == "ok"
            assert body["checks"]["redis"] in ("down", "timeout")
            assert REGISTRY.get_sample_value("queueit_dependency_up", {"check": "redis"}) == 0
            assert REGISTRY.get_sample_value("queueit_ready") == 1
            # The API itself keeps serving.
            assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_readiness_with_a_client_to_a_closed_port(app: object) -> None:
    state = app.state.ctx  # type: ignore[attr-defined]
    client = Redis.from_url(CLOSED_REDIS, socket_connect_timeout=0.5)
    previous, state.redis = state.redis, client
    try:
        ok, body = await service.readiness(state)
    finally:
        state.redis = previous
        await client.aclose()
    assert ok is True
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == "down"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_hanging_check_is_cut_short(app: object, monkeypatch: pytest.MonkeyPatch) -> None:
    state = app.state.ctx  # type: ignore[attr-defined]

    class Hanging:
        async def ping(self) -> None:
            import asyncio

            await asyncio.sleep(60)

    monkeypatch.setattr(service, "CHECK_TIMEOUT_SECONDS", 0.2)
    previous, state.redis = state.redis, Hanging()
    try:
        ok, body = await service.readiness(state)
    finally:
        state.redis = previous
    assert ok is True
    assert body["checks"]["redis"] == "timeout"
