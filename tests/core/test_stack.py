"""What every answer carries, whichever layer of the stack produced it: the request id (header,
envelope, log line), the security headers, CORS for a listed origin only, the body cap."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager

from queueit.core.middleware import new_request_id
from queueit.main import create_app
from queueit.users import service as users_service
from tests.conftest import make_settings
from tests.factories import auth, token_for

ORIGIN = "https://party.example"


async def _client(database_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Any]:
    app = create_app(make_settings(database_url, tmp_path / "data", **overrides))
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@pytest.fixture
async def cors_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(database_url, tmp_path, allowed_origins=ORIGIN):
        yield client


def _assert_stamped(response: httpx.Response) -> None:
    assert len(response.headers["X-Request-ID"]) == 32
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    if response.status_code >= 400:
        assert response.json()["request_id"] == response.headers["X-Request-ID"]


async def test_each_request_is_logged_once_with_its_id(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The app logs at INFO into capsys's stream, which closes after the test: the worker's
    # next tests must not inherit that configuration (a later INFO line would hit a closed file).
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        async for client in _client(database_url, tmp_path, log_level="INFO", log_json=True):
            capsys.readouterr()
            await client.get("/healthz", headers={"X-Request-ID": "trace-1"})
            await client.get("/api/v1/nope", headers={"X-Request-ID": "trace-2"})
    finally:
        structlog.configure(**saved)
        root.handlers, root.level = handlers, level
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    finished = [line for line in lines if line.get("event") == "request_finished"]
    assert [(f["request_id"], f["route"], f["status"]) for f in finished] == [
        ("trace-1", "/healthz", 200),
        ("trace-2", "unmatched", 404),
    ]
    assert all(f["method"] == "GET" and f["duration_ms"] >= 0 for f in finished)


async def test_a_request_logs_nothing_bound_before_it(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The request middleware resets structlog's context variables itself (through structlog's
    # private registry of them, core/middleware.py): a key bound before a request (here, in
    # the task the in-process client runs the app in) must not reach that request's lines.
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        async for client in _client(database_url, tmp_path, log_level="INFO", log_json=True):
            capsys.readouterr()
            structlog.contextvars.bind_contextvars(stale_key="from-before")
            await client.get("/healthz", headers={"X-Request-ID": "trace-3"})
            await client.get("/healthz")
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.configure(**saved)
        root.handlers, root.level = handlers, level
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    finished = [line for line in lines if line.get("event") == "request_finished"]
    assert len(finished) == 2
    assert finished[0]["request_id"] == "trace-3"
    assert len(finished[1]["request_id"]) == 32  # its own, not the previous request's
    assert all("stale_key" not in line for line in finished)


def test_generated_request_ids_are_distinct_uuid4s() -> None:
    ids = [new_request_id() for _ in range(1000)]  # several of the batches they are made in
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        parsed = uuid.UUID(hex=request_id)
        assert parsed.hex == request_id
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_worker_does_not_repeat_the_parents_request_ids() -> None:
    new_request_id()  # the parent holds a batch of ids it has not handed out yet
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then out at once
        try:
            os.write(write_end, new_request_id().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child_id) == 32
    assert child_id != new_request_id()


async def test_an_unexpected_error_is_the_envelope_with_id_and_headers(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(uow: Any, *, claims: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(users_service, "current_user", broken)
    async for client in _client(database_url, tmp_path):
        response = await client.get("/api/v1/users/me", headers=auth(token_for()))
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "boom" not in response.text
    _assert_stamped(response)


async def test_a_wrong_method_is_405_in_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET"
    _assert_stamped(response)


async def test_a_streamed_body_over_the_cap_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 8192

    response = await client.patch(
        "/api/v1/users/me",
        content=chunks(),
        headers={**auth(token_for()), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    _assert_stamped(response)


async def test_cors_answers_a_listed_origin_only(cors_client: httpx.AsyncClient) -> None:
    listed = await cors_client.get("/healthz", headers={"Origin": ORIGIN})
    assert listed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-request-id" in listed.headers["Access-Control-Expose-Headers"].lower()
    _assert_stamped(listed)
    other = await cors_client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    plain = await cors_client.get("/healthz")
    assert "Access-Control-Allow-Origin" not in plain.headers
    assert plain.headers["Vary"] == "Origin"  # a cache keeps the two answers apart
    _assert_stamped(plain)


async def test_an_oversized_cross_origin_request_still_gets_cors(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.patch(
        "/api/v1/users/me",
        content=b"x" * (70 * 1024),
        headers={**auth(token_for()), "content-type": "application/json", "Origin": ORIGIN},
    )
    assert response.status_code == 413
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    _assert_stamped(response)
