"""What `bench.run` hands every scenario, and the rows each one gives back for the table."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One line of the summary table: a figure, its target (if any) and whether it is met."""

    scenario: str
    metric: str
    measured: str
    target: str = ""
    ok: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "metric": self.metric,
            "measured": self.measured,
            "target": self.target,
            "ok": self.ok,
        }


@dataclass
class Context:
    database_url: str
    redis_url: str
    duration: float = 10.0
    workers: int = 1
    quick: bool = False
    python_loadgen: bool = False  # force the Python load generator even when wrk exists
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="queueit-bench-")))
    notes: list[str] = field(default_factory=list)

    def data_dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class ScenarioResult:
    rows: list[Row]
    details: dict[str, Any]
