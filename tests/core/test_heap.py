"""`queueit serve` settles each worker's garbage collector once its startup is done
(core/heap.py): what startup made is frozen out of the collector's passes and the young
generation's threshold is raised; an app made with `create_app` alone (tests, tools) keeps
the interpreter's collector as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from queueit.core import heap
from queueit.core.settings import Settings
from queueit.main import create_app


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to the collector is undone after it (this process goes on)."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def test_a_served_app_settles_the_collector_after_startup(
    settings: Settings, collector: None
) -> None:
    gc.unfreeze()
    app = create_app(settings, served=True)
    assert gc.get_freeze_count() == 0  # not before its startup ran
    async with LifespanManager(app):
        assert gc.get_threshold() == heap.THRESHOLDS
        # Startup's objects (modules, routes, models, the engine) are out of every pass.
        assert gc.get_freeze_count() > 50_000
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/readyz")).status_code == 200


async def test_an_app_for_tests_and_tools_leaves_the_collector_alone(
    settings: Settings, collector: None
) -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    app = create_app(settings)
    async with LifespanManager(app):
        assert gc.get_threshold() == thresholds
        assert gc.get_freeze_count() == 0
