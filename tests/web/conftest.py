"""Fixtures of the web tests: parties made through the API, and (browser tests) a real
`queueit serve` process with headless Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import REQUIRE_SERVICES, TEST_SECRET
from tests.factories import auth, make_host, make_user, token_for, track

CHROMIUM = Path(os.environ.get("QUEUEIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Party:
    id: str
    code: str
    host: dict[str, str]


async def make_party(client: httpx.AsyncClient, *, songs: int = 0) -> Party:
    """A party hosted by a new account; `songs` tracks added by the host (the first plays)."""
    host = await make_host(client)
    response = await client.post("/api/v1/sessions/create", json={}, headers=host)
    assert response.status_code == 200, response.text
    session = response.json()["session"]
    for n in range(songs):
        added = await client.post("/api/v1/songs/add", json=track(n), headers=host)
        assert added.status_code == 200, added.text
    return Party(id=session["id"], code=session["join_code"], host=host)


async def make_guest(client: httpx.AsyncClient, party: Party) -> dict[str, str]:
    guest = await make_user(client, anonymous=True)
    joined = await client.post(
        "/api/v1/sessions/join", json={"join_code": party.code}, headers=guest
    )
    assert joined.status_code == 200, joined.text
    return guest


def tv_key(app: FastAPI) -> bytes:
    key: bytes = app.state.ctx.tv_key
    return key


def output_dir() -> Path:
    directory = Path(os.environ.get("TEST_OUTPUT_DIR", "test-output")) / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# ---------------------------------------------------------------- browser tests


def _need_browser() -> None:
    """Skip (fail with QUEUEIT_REQUIRE_SERVICES=1) when Chromium or Playwright is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is absent (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright is not installed (pip install playwright)"
    if problem is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"browser tests need Chromium: {problem}", pytrace=False)
    pytest.skip(f"browser tests skipped: {problem}")


@dataclass
class LiveServer:
    base_url: str
    http: httpx.Client
    secret: str = TEST_SECRET

    def host(self) -> dict[str, str]:
        """A new account with a music provider (it may host), signed like local tokens."""
        headers = auth(token_for(uuid.uuid4(), secret=self.secret))
        body = {"username": f"dj-{uuid.uuid4().hex[:6]}", "music_provider": "spotify"}
        response = self.http.patch("/api/v1/users/me", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return headers

    def create_party(self) -> tuple[Party, dict[str, Any]]:
        host = self.host()
        response = self.http.post("/api/v1/sessions/create", json={}, headers=host)
        assert response.status_code == 200, response.text
        session = response.json()["session"]
        return Party(id=session["id"], code=session["join_code"], host=host), session

    def search(self, headers: dict[str, str], query: str) -> dict[str, Any]:
        response = self.http.get(
            "/api/v1/catalog/search", params={"q": query, "limit": 1}, headers=headers
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["tracks"][0]
        return found

    def add(self, headers: dict[str, str], song: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post("/api/v1/songs/add", json=song, headers=headers)
        assert response.status_code == 200, response.text
        added: dict[str, Any] = response.json()
        return added

    def tv_url(self, party: Party) -> str:
        response = self.http.post(f"/api/v1/sessions/{party.id}/tv_link", headers=party.host)
        assert response.status_code == 200, response.text
        return self.base_url + response.json()["url"]


@contextmanager
def serve(directory: Path, *, secret: str = TEST_SECRET, **settings: str) -> Iterator[LiveServer]:
    """`queueit serve` on a free 127.0.0.1 port with SQLite under `directory`; stopped (and
    its log checked for tracebacks) on exit."""
    from tests.ops.procs import free_port, start_serve, stop, wait_ready

    port = free_port()
    values = {
        "environment": "test",
        "data_dir": str(directory / "data"),
        "local_jwt_secret": TEST_SECRET,
        "rate_limit_enabled": "false",
        "log_level": "WARNING",
        "metrics_enabled": "false",
        # Every browser is on 127.0.0.1 and acts at once: count members from the moment they
        # join, however many share the address (tests/party/test_sybil.py tests the rules).
        "established_member_seconds": "0",
        "members_counted_per_address": "0",
        **settings,
    }
    process, _, err = start_serve(directory, port, **values)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{base_url}/healthz")
        with httpx.Client(base_url=base_url, timeout=10) as http:
            yield LiveServer(base_url=base_url, http=http, secret=secret)
    finally:
        stop(process)
    assert "Traceback" not in err.read_text(), err.read_text()[-3000:]


# Script-shaped track text, for the tests that it renders as text. Added tracks carry the
# catalog's text, so it comes from an operator catalog (ids local:evil-1, local:evil-2).
EVIL_NAME = "<img src=x onerror=alert(1)>"
EVIL_ARTISTS = '"><svg onload=alert(3)>'
EVIL_QUEUED = "<script>alert(2)</script>"
EVIL_CATALOG = [
    {"id": "evil-1", "title": EVIL_NAME, "artists": EVIL_ARTISTS, "album": "<b>album</b>"},
    {"id": "evil-2", "title": EVIL_QUEUED, "artists": EVIL_ARTISTS, "album": "<b>album</b>"},
]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A local-auth-mode server shared by a module's browser tests (the demo catalog plus
    EVIL_CATALOG)."""
    _need_browser()
    directory = tmp_path_factory.mktemp("web-serve")
    catalog = directory / "evil-catalog.json"
    catalog.write_text(json.dumps(EVIL_CATALOG), encoding="utf-8")
    with serve(directory, local_catalog_path=str(catalog)) as server:
        yield server


@pytest.fixture(scope="module")
def browser(live_server: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
