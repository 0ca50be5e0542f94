"""Running `queueit` as a real process in tests: free ports, a clean environment, waiting
for a port to answer, and reading JSON log lines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

# Environment variables of the app's settings never leak from the developer's shell into a
# server under test (only what a test passes explicitly counts).
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in _KEEP if key in os.environ}
    env.update({key.upper(): value for key, value in values.items()})
    return env


def queueit(*args: str) -> list[str]:
    return [sys.executable, "-m", "queueit.cli", *args]


def start_serve(
    tmp_path: Path, port: int, **settings: str
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """`queueit serve` on 127.0.0.1:port with its output in files (never a pipe that could
    fill up); returns the process and the stdout and stderr paths."""
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            queueit("serve", "--host", "127.0.0.1", "--port", str(port)),
            env=clean_env(**settings),
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
        )
    return process, out, err


def wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited early with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} was not ready within {timeout}s")


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Make sure a process is gone (SIGKILL after a bounded wait)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log records in a stream (non-JSON lines are returned as {'raw': line})."""
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = {"raw": line}
        records.append(record if isinstance(record, dict) else {"raw": line})
    return records
