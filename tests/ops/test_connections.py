"""`queueit serve` facing the network directly: half-sent requests are closed after the header
timeout with 408, connections beyond the cap get 503 at once, and honest requests keep
getting answers meanwhile (core/http_guard.py)."""

from __future__ import annotations

import json
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.ops.procs import free_port, start_serve, stop, wait_ready

pytestmark = pytest.mark.slow

HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # never finished


def _serve(tmp_path: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    process, _, _ = start_serve(
        tmp_path,
        port,
        environment="test",
        data_dir=str(tmp_path / "data"),
        local_jwt_secret=TEST_SECRET,
        log_level="WARNING",
        rate_limit_enabled="false",
        **settings,
    )
    wait_ready(process, f"http://127.0.0.1:{port}/healthz")
    return process


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[int]:
    port = free_port()
    process = _serve(tmp_path, port, **request.param)
    try:
        yield port
    finally:
        stop(process)


def _open_half_sent(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(HALF_SENT)
        socks.append(sock)
    return socks


def _read_until_closed(socks: list[socket.socket], timeout: float) -> dict[socket.socket, bytes]:
    """What each socket received until the server closed it; sockets still open after
    `timeout` seconds are missing from the result."""
    received = {sock: b"" for sock in socks}
    closed: dict[socket.socket, bytes] = {}
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                received[sock] += chunk
            else:
                closed[sock] = received[sock]
                selector.unregister(sock)
    selector.close()
    return closed


def _status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.mark.parametrize(
    "served",
    # 127.0.0.1 as a trusted proxy: exempt from the per-address cap, so all 300 are held.
    [{"serve_header_timeout_seconds": "3", "trusted_proxies": "127.0.0.1/32"}],
    indirect=True,
)
def test_half_sent_requests_are_closed_after_the_header_timeout(served: int) -> None:
    port = served
    began = time.monotonic()
    attackers = _open_half_sent(port, 300)
    try:
        # While all 300 are held, an honest request is answered.
        honest = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert honest.status_code == 200
        assert time.monotonic() - began < 3, "the attack sockets must still be open here"

        closed = _read_until_closed(attackers, timeout=30)
        took = time.monotonic() - began
    finally:
        for sock in attackers:
            sock.close()

    assert len(closed) == 300, f"{300 - len(closed)} half-sent requests still open after 30 s"
    assert took < 30
    statuses = {_status_and_body(raw)[0] for raw in closed.values()}
    assert statuses == {408}
    _, body = _status_and_body(next(iter(closed.values())))
    assert body["code"] == "request_timeout"
    assert set(body) == {"detail", "code", "request_id"}


@pytest.mark.parametrize("served", [{"serve_header_timeout_seconds": "20"}], indirect=True)
def test_one_address_cannot_hold_many_half_sent_requests(served: int) -> None:
    port = served
    began = time.monotonic()
    attackers = _open_half_sent(port, 300)
    try:
        # Beyond 32 unfinished requests, the address's new connections are refused at once...
        refused = _read_until_closed(attackers, timeout=10)
        assert time.monotonic() - began < 15, "refusals must not wait for the header timeout"
        assert len(refused) == 300 - 32
        assert {_status_and_body(raw)[0] for raw in refused.values()} == {429}
        assert _status_and_body(next(iter(refused.values())))[1]["code"] == "too_many_connections"
        # ...while another address (another guest's phone) is served as usual.
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=other, timeout=10) as client:
            assert client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        for sock in attackers:
            sock.close()


@pytest.mark.parametrize("served", [{"serve_header_timeout_seconds": "3"}], indirect=True)
def test_slow_but_complete_requests_and_keep_alive_still_work(served: int) -> None:
    port = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # Headers trickled over ~1.5 s (within the timeout) are answered.
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
            sock.sendall(part)
            time.sleep(0.5)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        # A second request on the kept-alive connection that stalls gets its own bound.
        sock.sendall(HALF_SENT)
        stalled = _read_until_closed([sock], timeout=20)
    assert stalled and _status_and_body(stalled[sock])[0] == 408
    # A client reusing a pool keeps working.
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.parametrize(
    "served",
    [{"serve_max_connections": "20", "serve_header_timeout_seconds": "60"}],
    indirect=True,
)
def test_connections_beyond_the_cap_get_503_at_once(served: int) -> None:
    port = served
    held = _open_half_sent(port, 20)
    try:
        deadline = time.monotonic() + 20
        status = 0
        while time.monotonic() < deadline:  # until the server has accepted all 20
            response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            status = response.status_code
            if status == 503:
                break
            time.sleep(0.1)
        assert status == 503
        assert response.json()["code"] == "server_busy"
        assert response.headers["retry-after"] == "1"
    finally:
        for sock in held:
            sock.close()
    # Once they are gone, requests are served again.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the server did not serve again after the held connections closed")
