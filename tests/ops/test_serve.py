"""`queueit serve` as a real process: a SIGTERM lets in-flight requests finish and the process
exits cleanly and quietly; an unsafe production configuration refuses to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.factories import token_for
from tests.ops.procs import clean_env, free_port, json_lines, queueit, start_serve, stop, wait_ready

pytestmark = pytest.mark.slow

GOOD_SECRET = "Jx3kP9vQ2mWz7Lr5Tn8Yb4Hc6Fd1Gs0Ae-Ku_Vo" + "Zi2Nw7Rq4Xe9Mt"  # random-looking


def _slow_patch(port: int, token: str, started: threading.Event, release: threading.Event) -> int:
    """PATCH /api/v1/users/me whose body arrives in two parts, the second after `release`:
    the request is in flight (the app is reading its body) for as long as the test wants."""
    body = b'{"storefront": "gb"}'
    head = (
        f"PATCH /api/v1/users/me HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head + body[:5])
        started.set()
        release.wait(timeout=20)
        sock.sendall(body[5:])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return int(response.split(b" ", 2)[1])


def _stream(port: int, stop_event: threading.Event, statuses: list[int]) -> None:
    """Quick requests, one after the other, until the server stops answering."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        while not stop_event.is_set():
            try:
                statuses.append(client.get("/readyz").status_code)
            except httpx.HTTPError:
                return  # the server stopped accepting: expected
            time.sleep(0.01)


def _refused_within(port: int, *, seconds: float) -> bool:
    """Whether new connections to `port` are refused before `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except httpx.ConnectError:
            return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def test_sigterm_drains_in_flight_requests_and_exits_cleanly(tmp_path: Path) -> None:
    port = free_port()
    process, _, err = start_serve(
        tmp_path,
        port,
        environment="test",
        data_dir=str(tmp_path / "data"),
        local_jwt_secret=TEST_SECRET,
        log_json="true",
        log_level="INFO",
        rate_limit_enabled="false",
    )
    slow_results: list[int] = []
    stream_statuses: list[int] = []
    try:
        wait_ready(process, f"http://127.0.0.1:{port}/readyz")
        tokens = [token_for() for _ in range(3)]
        release, stop_stream = threading.Event(), threading.Event()
        starts = [threading.Event() for _ in tokens]
        threads = [
            threading.Thread(
                target=lambda t=t, s=s: slow_results.append(_slow_patch(port, t, s, release))
            )
            for t, s in zip(tokens, starts, strict=True)
        ]
        threads.append(threading.Thread(target=_stream, args=(port, stop_stream, stream_statuses)))
        for thread in threads:
            thread.start()
        for started in starts:
            assert started.wait(timeout=10)
        time.sleep(0.3)  # the stream is flowing, the slow requests are being read

        process.send_signal(signal.SIGTERM)
        # Shutdown begins: new connections are refused...
        assert _refused_within(port, seconds=15)
        assert process.poll() is None  # ...but the process waits for the in-flight requests
        release.set()
        stop_stream.set()
        for thread in threads:
            thread.join(timeout=20)
        began = time.monotonic()
        returncode = process.wait(timeout=10)
        exit_seconds = time.monotonic() - began
    finally:
        stop(process)

    assert slow_results == [200, 200, 200]
    assert stream_statuses and set(stream_statuses) == {200}
    assert exit_seconds < 5
    stderr = err.read_text()
    records = json_lines(stderr)
    assert "Traceback" not in stderr
    noisy = [r for r in records if r.get("level") in ("error", "critical") or "raw" in r]
    assert noisy == []
    events = [r.get("event") for r in records]
    assert "shutdown_complete" in events
    assert returncode == 0


STUCK_THREAD = """
import threading

def stuck_forever_in_a_job():  # what a leaked executor job or library thread looks like
    threading.Event().wait()

threading.Thread(target=stuck_forever_in_a_job, name="stuck-job").start()
"""


def test_a_shutdown_that_cannot_finish_is_ended_by_the_watchdog(tmp_path: Path) -> None:
    """Whatever keeps a stopping process alive (here a non-daemon thread that never ends, which
    blocks interpreter exit), `queueit serve` is gone within its bound after SIGTERM, with the
    stack of what held it."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STUCK_THREAD)
    port = free_port()
    process, _, err = start_serve(
        tmp_path,
        port,
        environment="test",
        data_dir=str(tmp_path / "data"),
        local_jwt_secret=TEST_SECRET,
        log_json="true",
        shutdown_watchdog_seconds="2",
        pythonpath=f"{hook}:{os.environ.get('PYTHONPATH', '')}",
    )
    try:
        wait_ready(process, f"http://127.0.0.1:{port}/readyz")
        process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        returncode = process.wait(timeout=30)
        seconds = time.monotonic() - began
    finally:
        stop(process)
    stderr = err.read_text()
    assert returncode == 1, stderr[-2000:]
    assert 2 <= seconds < 15
    assert "shutdown_watchdog_fired" in stderr
    assert "stuck_forever_in_a_job" in stderr  # the stack names what held the process


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (
            {"allow_sqlite_in_production": "true", "allowed_origins": "https://party.example"},
            "LOCAL_JWT_SECRET must be set",
        ),
        (
            {
                "local_jwt_secret": "short",
                "allow_sqlite_in_production": "true",
                "allowed_origins": "https://party.example",
            },
            "LOCAL_JWT_SECRET is shorter than 32",
        ),
        (
            {
                "local_jwt_secret": "a" * 32,
                "allow_sqlite_in_production": "true",
                "allowed_origins": "https://party.example",
            },
            "LOCAL_JWT_SECRET has fewer than 8 different characters",
        ),
        (
            {
                "local_jwt_secret": GOOD_SECRET,
                "allow_sqlite_in_production": "true",
                "allowed_origins": "*",
            },
            "ALLOWED_ORIGINS must not be '*'",
        ),
        (
            {"local_jwt_secret": GOOD_SECRET, "allowed_origins": "https://party.example"},
            "DATABASE_URL points at SQLite",
        ),
    ],
    ids=["default-secret", "short-secret", "repeated-secret", "wildcard-cors", "sqlite"],
)
def test_unsafe_production_config_refuses_to_start(
    tmp_path: Path, settings: dict[str, str], reason: str
) -> None:
    result = subprocess.run(
        queueit("serve", "--host", "127.0.0.1", "--port", str(free_port())),
        env=clean_env(environment="production", data_dir=str(tmp_path / "data"), **settings),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    refusals = [line for line in result.stderr.decode().splitlines() if "refusing to start" in line]
    assert len(refusals) == 1, result.stderr.decode()
    assert reason in refusals[0]
    assert not (tmp_path / "data" / "queueit.db").exists()  # refused before touching anything


def test_correct_production_config_starts(tmp_path: Path) -> None:
    port = free_port()
    process, _, err = start_serve(
        tmp_path,
        port,
        environment="production",
        data_dir=str(tmp_path / "data"),
        local_jwt_secret=GOOD_SECRET,
        allowed_origins="https://party.example",
        allow_sqlite_in_production="true",
    )
    try:
        wait_ready(process, f"http://127.0.0.1:{port}/readyz")
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    finally:
        stop(process)
    records = json_lines(err.read_text())  # production logs are JSON
    assert any(r.get("event") == "startup_complete" for r in records)
    assert all("raw" not in r for r in records), err.read_text()
