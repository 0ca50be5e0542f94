"""What `bench.run` hands every scenario, and the rows each one gives back for the table."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procfs import Placement


@dataclass
class Row:
    """One line of the summary table: a figure, its target (if any) and whether it is met."""

    scenario: str
    metric: str
    measured: str
    target: str = ""
    ok: bool | None = None
    placement: str = ""  # cores of server | load generator | PostgreSQL (procfs.Placement)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "metric": self.metric,
            "measured": self.measured,
            "target": self.target,
            "ok": self.ok,
            "placement": self.placement,
        }


@dataclass
class Context:
    database_url: str
    redis_url: str
    duration: float = 10.0
    workers: int = 1
    quick: bool = False
    python_loadgen: bool = False  # force the Python load generator even when wrk exists
    open_rate: float | None = None  # scenario 2's open loop at this rate, not half capacity
    placement: Placement = field(default_factory=lambda: Placement(None, None))
    # The run's yardstick (scenarios.reference): CPU and requests/s of the bare route and of
    # the plain FastAPI app, measured once per run; every ratio divides by these.
    reference: dict[str, Any] | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="queueit-bench-")))
    notes: list[str] = field(default_factory=list)

    @property
    def server_cpus(self) -> str | None:
        return self.placement.server

    def where(self) -> str:
        """The placement and the machine's 1-minute load average (other jobs share the
        cores), for the table; read when the figure is measured."""
        return f"{self.placement.describe()} | load {os.getloadavg()[0]:.1f}"

    def data_dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class ScenarioResult:
    rows: list[Row]
    details: dict[str, Any]
