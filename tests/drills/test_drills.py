"""Fault drills (bench/drills): each runs `python -m bench.drills --only NAME` in its own
process, bounded in time, loopback only, and every one of its checks must hold. See
docs/BENCHMARKS.md for what each drill does and what it showed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.drills.infra import missing_tools

from tests.conftest import PG_URL, REQUIRE_SERVICES, pg_available

# Each drill is bounded by TIMEOUT_SECONDS in its subprocess; the test's own bound is above it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 150  # each drill takes well under a minute; this is a backstop


def _run_drill(name: str, tmp_path: Path, *tools: str) -> dict[str, object]:
    missing = missing_tools(*tools)
    if missing:
        message = f"drill {name} needs {', '.join(missing)}"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable")
    out = tmp_path / "drill.json"
    env = {**os.environ, "TEST_DATABASE_URL": PG_URL}
    completed = subprocess.run(
        [sys.executable, "-m", "bench.drills", "--only", name, "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert out.exists(), completed.stdout + completed.stderr
    result: dict[str, object] = json.loads(out.read_text())["drills"][name]
    checks = result["checks"]
    assert isinstance(checks, dict)
    failed = [check for check, ok in checks.items() if not ok]
    assert not failed, f"{name}: {failed}\n{completed.stdout}\n{completed.stderr[-3000:]}"
    return result


def test_postgres_restart_under_load(tmp_path: Path) -> None:
    _run_drill("postgres_restart", tmp_path, "postgres")


def test_redis_killed_under_load(tmp_path: Path) -> None:
    _run_drill("redis_kill", tmp_path, "redis")


def test_client_that_stops_reading(tmp_path: Path) -> None:
    _run_drill("slow_client", tmp_path)


def test_sigterm_under_load(tmp_path: Path) -> None:
    _run_drill("sigterm", tmp_path)
