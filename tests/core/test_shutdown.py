"""Shutdown closes everything even when a step fails. Seen in a full run: Redis went away while
the backplane was reconnecting, redis-py answered the cancel with ConnectionError, the
shutdown stopped there, and the database pool, the HTTP clients and Redis stayed open; the
event loop then hung in `loop.close()` and the test server never stopped (issue 13's hang)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from redis.exceptions import ConnectionError as RedisConnectionError

from queueit.main import create_app
from queueit.realtime import runtime
from queueit.realtime.redis_backplane import RedisBackplane
from queueit.realtime.runtime import Realtime
from tests import services
from tests.conftest import make_settings


async def test_a_failing_shutdown_step_leaves_the_rest_closing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_stop(realtime: Realtime) -> None:
        raise RedisConnectionError("Connection closed by server.")

    monkeypatch.setattr(runtime, "stop", broken_stop)
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}", tmp_path))
    async with LifespanManager(app):
        state = app.state.ctx
    assert state.http.is_closed  # closed after the failed realtime step
    assert state.database.engine.pool.checkedout() == 0


async def test_the_backplane_closes_its_client_when_redis_answers_the_cancel_with_an_error() -> (
    None
):
    backplane = RedisBackplane(services.worker_redis_url(), channel="queueit:test:shutdown")

    async def reconnecting() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RedisConnectionError("Connection closed by server.") from None

    backplane._task = asyncio.create_task(reconnecting())
    await asyncio.sleep(0)
    closed: list[bool] = []
    original = backplane._client.aclose

    async def aclose() -> None:
        closed.append(True)
        await original()

    backplane._client.aclose = aclose  # type: ignore[method-assign]
    await backplane.stop()
    assert closed == [True]
