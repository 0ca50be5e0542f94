"""An unexpected error answers at once, whatever the logging mode (issue 21, item 4).

The console renderer used to format the traceback with every frame's locals (rich) before
the 500 went out: ~20 s for a database error on `make run`. The forced error here is the
same kind: a failing SQL statement deep inside a request, logged by the error handler."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from queueit.main import create_app
from queueit.users import service as users_service
from tests.conftest import make_settings
from tests.factories import auth, token_for


async def _timed(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, float, Any]:
    started = time.perf_counter()
    response = await client.get("/api/v1/users/me", headers=headers)
    return response.status_code, time.perf_counter() - started, response.json()


@pytest.mark.parametrize("log_json", [False, True], ids=["console", "json"])
async def test_a_forced_500_answers_as_fast_as_a_normal_request(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_json: bool
) -> None:
    # The logging mode a newcomer gets on `make run` (console) and production's (JSON).
    settings = make_settings(database_url, tmp_path / "data", log_level="INFO", log_json=log_json)
    assert settings.log_as_json is log_json
    app = create_app(settings)
    headers = auth(token_for())
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            normal: list[float] = []
            for _ in range(12):
                status, seconds, _body = await _timed(client, headers)
                assert status == 200
                normal.append(seconds)
            original = users_service.current_user

            async def broken(uow: Any, *, claims: Any) -> Any:
                await original(uow, claims=claims)
                await uow.session.execute(text("SELECT missing FROM no_such_table"))

            monkeypatch.setattr(users_service, "current_user", broken)
            failed: list[float] = []
            for _ in range(3):
                status, seconds, body = await _timed(client, headers)
                assert status == 500
                assert body["code"] == "internal_error"
                assert "no_such_table" not in str(body)  # no SQL in the answer
                failed.append(seconds)
    bound = 10 * statistics.median(normal) + 0.05
    assert max(failed) < bound, (
        f"500s took {[round(s * 1000) for s in failed]} ms; normal median "
        f"{statistics.median(normal) * 1000:.1f} ms (bound {bound * 1000:.0f} ms)"
    )
