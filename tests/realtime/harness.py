"""Real servers for realtime tests: uvicorn in a thread of this process, or in a subprocess
(for multi-instance and shutdown tests), always on 127.0.0.1 with a free port."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from queueit.core.settings import Settings
from queueit.core.ws_frames import WS_PROTOCOL_PATH
from queueit.main import create_app
from tests.factories import make_host, make_user

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_ENV = "QUEUEIT_TEST_SERVER_SETTINGS"
# uvicorn waits up to timeout_graceful_shutdown (5 s) for connections, then the lifespan
# closes sockets (REALTIME_CLOSE_TIMEOUT_SECONDS, 5 s): a healthy stop takes far less.
STOP_TIMEOUT_SECONDS = 30.0


def thread_stack(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or -1)
    return "".join(traceback.format_stack(frame)) if frame is not None else "(no frame)\n"


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """What `queueit serve` should pass too: protocol pings, no per-message compression."""
    return uvicorn.Config(
        app,
        log_config=None,
        lifespan="on",
        ws=WS_PROTOCOL_PATH,
        ws_ping_interval=settings.realtime_ping_interval_seconds,
        ws_ping_timeout=settings.realtime_ping_timeout_seconds,
        ws_per_message_deflate=False,
        ws_max_size=64 * 1024,
        timeout_graceful_shutdown=5,
    )


def listening_socket(sndbuf: int | None = None) -> socket.socket:
    """Accepted sockets inherit SO_SNDBUF: a small one makes a stalled client back up fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    return sock


class ThreadServer:
    """uvicorn in a thread. `slow_port` is a second listening socket with a tiny SO_SNDBUF
    (accepted sockets inherit it), so a stalled client on it backs up after a few KB."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.sockets = [listening_socket(), listening_socket(sndbuf=8192)]
        self.port = self.sockets[0].getsockname()[1]
        self.slow_port = self.sockets[1].getsockname()[1]
        self.server = uvicorn.Server(uvicorn_config(self.app, settings))
        # A daemon: a server that fails to stop must fail its test (`stop`), never keep the
        # interpreter from exiting.
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": self.sockets}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> Any:
        return self.app.state.ctx

    def ws_url(self, session_id: str, query: str = "", *, port: int | None = None) -> str:
        path = f"/api/v1/sessions/{session_id}/realtime{query}"
        return f"ws://127.0.0.1:{port or self.port}{path}"

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Shut down (uvicorn's graceful shutdown, then the app's lifespan) within `timeout`
        seconds; otherwise fail, with the stuck thread's stack."""
        self.server.should_exit = True
        self.thread.join(timeout=timeout)
        for sock in self.sockets:
            sock.close()
        if self.thread.is_alive():
            raise AssertionError(
                f"the test server did not stop within {timeout:.0f} s; its thread is at:\n"
                + thread_stack(self.thread)
            )


class ProcessServer:
    """`python -m tests.realtime.serve` (measured by coverage like every subprocess of the
    suite: `patch = ["subprocess"]` in pyproject.toml)."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        env = {**os.environ, SETTINGS_ENV: settings.model_dump_json()}
        command = [sys.executable, "-m", "tests.realtime.serve"]
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.log
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self.kill()
            raise RuntimeError("the test server process did not start")
        return int(line)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, session_id: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/sessions/{session_id}/realtime{query}"

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("the test server process is not answering")

    def terminate(self, timeout: float = STOP_TIMEOUT_SECONDS) -> float:
        """SIGTERM (graceful shutdown); returns how many seconds the process took to exit. A
        process still running `timeout` seconds after SIGTERM is killed and the test fails:
        that is the production shutdown path hanging."""
        started = time.monotonic()
        hung = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                hung = True
                self.kill()
        self._close_pipes()
        if hung:
            tail = self.log_path.read_bytes()[-3000:].decode(errors="replace")
            raise AssertionError(
                f"the server process did not exit within {timeout:.0f} s of SIGTERM; killed. "
                f"Its log ends:\n{tail}"
            )
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if not self.log.closed:
            self.log.close()


# -- clients ------------------------------------------------------------------------------


def bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def open_ws(
    url: str, *, token: str | None = None, origin: str | None = None, **kwargs: Any
) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if origin:
        headers["Origin"] = origin
    return await connect(
        url,
        additional_headers=headers,
        open_timeout=10,
        close_timeout=5,
        compression=None,
        max_size=2**22,
        **kwargs,
    )


async def recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    message: dict[str, Any] = orjson.loads(raw)
    return message


async def until(ws: ClientConnection, event: str, timeout: float = 10) -> dict[str, Any]:
    """The next message named `event` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = await recv(ws, max(0.01, deadline - time.monotonic()))
        if message["event"] == event:
            return message


async def drain_until_closed(ws: ClientConnection, timeout: float = 10) -> list[dict[str, Any]]:
    """Every message until the server closes the socket."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            messages.append(await recv(ws, max(0.01, deadline - time.monotonic())))
    except ConnectionClosed:
        return messages


async def close_code_of(ws: ClientConnection, timeout: float = 10) -> int | None:
    await drain_until_closed(ws, timeout)
    return ws.close_code


@dataclass
class Party:
    session_id: str
    join_code: str
    host: dict[str, str]
    guest: dict[str, str]


async def start_party(http: httpx.AsyncClient) -> Party:
    host = await make_host(http)
    code = "P" + uuid.uuid4().hex[:8].upper()
    created = await http.post("/api/v1/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    guest = await make_user(http, anonymous=True)
    joined = await http.post("/api/v1/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    return Party(created.json()["session"]["id"], code, host, guest)


async def join(http: httpx.AsyncClient, party: Party) -> dict[str, str]:
    member = await make_user(http, anonymous=True)
    joined = await http.post(
        "/api/v1/sessions/join", json={"join_code": party.join_code}, headers=member
    )
    assert joined.status_code == 200, joined.text
    return member


def dump(message: object) -> str:
    return json.dumps(message, indent=1)[:2000]
