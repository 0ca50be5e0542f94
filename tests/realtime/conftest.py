"""Fixtures: a real uvicorn server (in a thread) on the test database, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.realtime.harness import ThreadServer


@pytest.fixture
def realtime_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change the server's settings."""
    return {}


@pytest.fixture
def server(
    database_url: str, tmp_path: Path, realtime_overrides: dict[str, Any]
) -> Iterator[ThreadServer]:
    settings = make_settings(database_url, tmp_path / "data", **realtime_overrides)
    running = ThreadServer(settings).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def http(server: ThreadServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as client:
        yield client
