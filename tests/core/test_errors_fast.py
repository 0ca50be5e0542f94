"""An unexpected error is logged with a plain traceback and answered at once, whatever the
logging mode (issue 21, item 4).

The console renderer used to format the traceback with every frame's locals (rich's
`show_locals`) before the 500 went out: ~20 s for a database error on `make run`, and every
local's value (tokens, settings, rows) in the log. And the first 500 of a process imported the
Sentry SDK (0.2-0.6 s) even without a DSN. Both causes are asserted here as behaviour, not
timed: the logged traceback carries no frame-local value, and the SDK is not imported. The
forced error is the kind that was slow: a failing SQL statement deep inside a request, logged
by the error handler."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from queueit.main import create_app
from queueit.users import service as users_service
from tests.conftest import make_settings
from tests.factories import auth, token_for

# In a local of the failing frame only: never an argument, a message or a logged field.
SENTINEL = "frame-local-value-7c1e94"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The app configures logging at INFO into capsys's stream, which closes after the test:
    the worker's next tests must not inherit that configuration."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers, root.level = handlers, level


@pytest.mark.parametrize("log_json", [False, True], ids=["console", "json"])
async def test_a_forced_500_logs_a_traceback_without_frame_locals_or_sentry(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
    log_json: bool,
) -> None:
    # The logging mode a newcomer gets on `make run` (console) and production's (JSON).
    settings = make_settings(database_url, tmp_path / "data", log_level="INFO", log_json=log_json)
    assert settings.log_as_json is log_json
    assert not settings.sentry_dsn
    # Whatever another test of this worker imported: the request below must not import it.
    monkeypatch.delitem(sys.modules, "sentry_sdk", raising=False)
    original = users_service.current_user

    async def broken(uow: Any, *, claims: Any) -> Any:
        await original(uow, claims=claims)
        secret_local = SENTINEL
        await uow.session.execute(text("SELECT missing FROM no_such_table"))
        return secret_local

    monkeypatch.setattr(users_service, "current_user", broken)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            capsys.readouterr()
            response = await client.get("/api/v1/users/me", headers=auth(token_for()))
            logged = capsys.readouterr().err

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "no_such_table" not in response.text  # no SQL in the answer
    # The traceback is logged, down to the failing frame and statement...
    assert "unhandled_error" in logged
    assert "broken" in logged and "no_such_table" in logged
    # ...without the values of that frame's locals.
    assert SENTINEL not in logged
    assert "sentry_sdk" not in sys.modules
