"""The periodic task runner: a failing run never stops the loop, a stop is bounded, an
interval of 0 turns a task off."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from queueit.core import tasks


async def test_a_failing_run_never_stops_the_loop() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bug in a task")
        if len(calls) == 2:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError())
        return "ok"

    def runs(outcome: str) -> float:
        labels = {"task": "flaky", "outcome": outcome}
        return REGISTRY.get_sample_value("queueit_task_runs_total", labels) or 0.0

    before = {outcome: runs(outcome) for outcome in ("ok", "error")}
    runner = tasks.TaskRunner([tasks.PeriodicTask("flaky", 0.01, flaky)])
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        await runner.stop()
    assert len(calls) >= 4
    assert runs("error") == before["error"] + 2
    assert runs("ok") >= before["ok"] + 2


async def test_stop_is_bounded_and_disabled_tasks_never_start() -> None:
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(60)
        return "ok"

    async def never() -> str:
        raise AssertionError("an interval of 0 turns a task off")

    runner = tasks.TaskRunner(
        [tasks.PeriodicTask("slow", 0.01, slow), tasks.PeriodicTask("off", 0, never)]
    )
    assert [task.name for task in runner.tasks] == ["slow"]
    runner.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    began = time.monotonic()
    await runner.stop(grace_seconds=0.1)
    assert time.monotonic() - began < 2
