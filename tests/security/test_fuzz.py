"""Schemathesis against the running server's OpenAPI schema: no 5xx, no undocumented status,
no schema violations, auth enforced (`ignored_auth`). Bounded so CI stays fast."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
SECRET = "fuzz-secret-" + "f" * 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(1200)  # ~2 min on a quiet machine; the bound allows a loaded one
def test_schemathesis_finds_no_failures(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "LOCAL_JWT_SECRET": SECRET,
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "test",
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "SUPABASE_URL": "",
        "SUPABASE_JWT_SECRET": "",
    }
    server = subprocess.Popen(
        [str(BIN / "queueit"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = subprocess.run(
            [str(BIN / "queueit"), "token", "--username", "fuzzer"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            httpx.post(
                f"{base}/api/v1/sessions/create", json={}, headers=headers, timeout=5
            ).status_code
            == 200
        )
        report = tmp_path / "report"
        result = subprocess.run(
            [
                str(BIN / "schemathesis"),
                "--config-file",
                str(HERE / "schemathesis.toml"),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "-H",
                f"Authorization: Bearer {token}",
                "--max-examples",
                os.environ.get("FUZZ_MAX_EXAMPLES", "8"),
                "--seed",
                "20261127",
                "--max-time",
                os.environ.get("FUZZ_MAX_SECONDS", "120"),
                "--exclude-operation-id",
                "delete_me_api_v1_users_me_delete",
                "--report",
                "junit",
                "--report-dir",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        output_dir = Path(os.environ.get("TEST_OUTPUT_DIR", "test-output"))
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "schemathesis.txt").write_text(result.stdout + result.stderr)
        if report.exists():
            shutil.copytree(report, output_dir / "schemathesis", dirs_exist_ok=True)
        assert result.returncode == 0, result.stdout[-6000:]
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=20)
    assert b"Traceback" not in stderr, stderr.decode()[-3000:]
