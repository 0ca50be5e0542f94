"""Sentry: secrets are scrubbed before an event leaves the process, the request id rides
along as a tag, and nothing starts without SENTRY_DSN."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog

from queueit.core.sentry import MASK, init_sentry, scrub_event, scrub_text
from queueit.core.settings import Settings
from tests.ops.procs import clean_env

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


def test_headers_cookies_and_secret_keys_are_masked() -> None:
    event = {
        "request": {
            "url": "https://api.example/api/v1/sessions/x/realtime",
            "query_string": "token=abc123&limit=5",
            "headers": {
                "Authorization": f"Bearer {JWT}",
                "Cookie": "sb=1",
                "X-Api-Key": "k-123",
                "User-Agent": "QueueIT/1.0",
            },
            "cookies": {"sb": "1"},
        },
        "extra": {
            "local_jwt_secret": "s3cret",
            "spotify_client_secret": "abc",
            "apple_private_key_base64": "LS0t",
            "database_url": "postgresql://app:hunter2@db:5432/queueit",
            "token_count": 3,
            "monkey": "banana",
        },
        "breadcrumbs": {"values": [{"message": f"calling with Bearer {JWT}"}]},
    }
    scrubbed = scrub_event(event, {})
    request = scrubbed["request"]
    assert request["headers"]["Authorization"] == MASK
    assert request["headers"]["Cookie"] == MASK
    assert request["headers"]["X-Api-Key"] == MASK
    assert request["headers"]["User-Agent"] == "QueueIT/1.0"
    assert request["cookies"] == MASK
    assert request["query_string"] == f"token={MASK}&limit=5"
    extra = scrubbed["extra"]
    assert extra["local_jwt_secret"] == MASK
    assert extra["spotify_client_secret"] == MASK
    assert extra["apple_private_key_base64"] == MASK
    assert extra["database_url"] == f"postgresql://app:{MASK}@db:5432/queueit"
    assert extra["token_count"] == 3  # numbers are not secrets
    assert extra["monkey"] == "banana"
    assert JWT not in json.dumps(scrubbed)
    # The original event is left alone (scrubbing returns a copy).
    assert event["request"]["headers"]["Authorization"] == f"Bearer {JWT}"  # type: ignore[index]


def test_header_pairs_and_exception_messages_are_masked() -> None:
    event = {
        "request": {"headers": [["authorization", "Bearer abc"], ["accept", "*/*"]]},
        "exception": {
            "values": [
                {
                    "type": "RuntimeError",
                    "value": f"GET /x?access_token=abc&q=1 failed for {JWT}; "
                    "settings=Settings(local_jwt_secret='zzz', port=8000)",
                }
            ]
        },
    }
    scrubbed = scrub_event(event, None)
    assert scrubbed["request"]["headers"] == [["authorization", MASK], ["accept", "*/*"]]
    message = scrubbed["exception"]["values"][0]["value"]
    assert "abc" not in message and JWT not in message and "zzz" not in message
    assert "q=1" in message and "port=8000" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wss://h/api/v1/sessions/1/realtime?token=abc", f"realtime?token={MASK}"),
        ("Basic dXNlcjpwYXNz", f"Basic {MASK}"),
        ("redis://:pw@redis:6379/0", f"redis://:{MASK}@redis:6379/0"),
        ("nothing to hide", "nothing to hide"),
    ],
)
def test_scrub_text(text: str, expected: str) -> None:
    assert expected in scrub_text(text)


def test_request_id_of_the_log_context_becomes_a_tag() -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="req-123")
    try:
        scrubbed = scrub_event({"tags": {"kind": "x"}}, {})
    finally:
        structlog.contextvars.clear_contextvars()
    assert scrubbed["tags"] == {"kind": "x", "request_id": "req-123"}
    assert "tags" not in scrub_event({}, {})


def test_nothing_starts_without_a_dsn() -> None:
    assert init_sentry(Settings(_env_file=None)) is False


class _FakeSentry(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def fake_sentry() -> Iterator[tuple[str, list[bytes]]]:
    _FakeSentry.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://public@127.0.0.1:{server.server_address[1]}/1", _FakeSentry.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# Run in a child process: sentry_sdk.init patches Starlette for the whole process.
_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import httpx, sentry_sdk
    from asgi_lifespan import LifespanManager
    from queueit.main import create_app

    app = create_app()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("provider said no to Bearer " + sys.argv[1])

    async def main() -> None:
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get(
                    "/boom?token=query-secret&page=2",
                    headers={"Authorization": "Bearer " + sys.argv[1], "X-Request-ID": "req-42"},
                )
                assert response.status_code == 500, response.text
                assert (await client.get("/healthz")).status_code == 200
        sentry_sdk.flush(timeout=5)

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_errors_and_traces_reach_sentry_scrubbed(
    tmp_path: Path, fake_sentry: tuple[str, list[bytes]]
) -> None:
    dsn, received = fake_sentry
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    result = subprocess.run(
        [sys.executable, str(script), JWT],
        env=clean_env(
            sentry_dsn=dsn,
            sentry_traces_sample_rate="1.0",
            environment="test",
            local_jwt_secret="s" * 40,
            data_dir=str(tmp_path / "data"),
            log_level="WARNING",
        ),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    raw = b"\n".join(received)
    assert raw, "nothing reached the fake Sentry"
    assert JWT.encode() not in raw
    assert b"query-secret" not in raw
    items = [json.loads(line) for line in raw.splitlines() if line.strip().startswith(b"{")]
    errors = [i for i in items if i.get("exception")]
    assert errors, "the 500 was not reported"
    error = errors[0]
    assert error["exception"]["values"][0]["type"] == "RuntimeError"
    assert error["tags"]["request_id"] == "req-42"
    assert error["environment"] == "test"
    transactions = [i for i in items if i.get("type") == "transaction"]
    assert transactions, "no sampled trace was sent"
    assert any(t.get("transaction") == "/healthz" for t in transactions)
