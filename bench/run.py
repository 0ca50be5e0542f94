"""`make bench` (`python -m bench.run`): every scenario against a real `queueit serve` on
PostgreSQL (Redis where a scenario needs it), a table on stdout and the figures as JSON in
bench/results/. Loopback only; every scenario is bounded in time. See bench/README.md.

    python -m bench.run                         # all scenarios, 1 worker
    python -m bench.run --workers 2             # the same with `queueit serve --workers 2`
    python -m bench.run --only ceiling votes    # some scenarios
    python -m bench.run --quick                 # short runs (a smoke test, not figures)
    python -m bench.run --before 85cb72f        # each scenario on that commit's src, then on
                                                # this checkout's: one table, before | after
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.context import Context, Row, ScenarioResult
from bench.harness import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    EXTRA_SETTINGS,
    RESULTS_DIR,
    ROOT,
    reset_database,
)
from bench.procfs import choose_placement, machine

SCENARIOS = {
    "ceiling": "bench.scenarios.ceiling",
    "votes": "bench.scenarios.votes",
    "scaling": "bench.scenarios.scaling",
    "fanout": "bench.scenarios.fanout",
    "catalog": "bench.scenarios.catalog",
}


def _met(row: Row) -> str:
    return "" if row.ok is None else ("yes" if row.ok else "NO")


def _columns(lines: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned columns, the first line a header underlined with dashes."""
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(lines[0]))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def table(rows: list[Row]) -> str:
    header = ("scenario", "metric", "measured", "target", "met", "placement (cores), load")
    return _columns(
        [
            header,
            *[(r.scenario, r.metric, r.measured, r.target, _met(r), r.placement) for r in rows],
        ]
    )


def comparison(before: list[Row], after: list[Row]) -> str:
    """One table of both trees' rows, matched by scenario and metric. `met` is the after
    tree's; the before tree's is in the JSON, under `before`."""
    earlier = {(r.scenario, r.metric): r for r in before}
    lines = [("scenario", "metric", "before", "after", "target", "met", "placement, load (after)")]
    for r in after:
        b = earlier.pop((r.scenario, r.metric), None)
        was = b.measured if b else ""
        lines.append((r.scenario, r.metric, was, r.measured, r.target, _met(r), r.placement))
    for b in earlier.values():  # a figure only the before tree gave
        lines.append((b.scenario, b.metric, b.measured, "", b.target, "", b.placement))
    return _columns(lines)


def export_src(revision: str, into: Path) -> Path:
    """`git archive <revision> src` unpacked under `into`: the before tree's code."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def run_scenario(
    name: str, ctx: Context, src: str | None, results: dict[str, Any], rows: list[Row]
) -> bool:
    """One scenario on one tree (`src`: BENCH_SRC, None: this checkout), its database reset
    to that tree's schema first; its rows appended. False when it failed to run."""
    if src is None:
        os.environ.pop("BENCH_SRC", None)
    else:
        os.environ["BENCH_SRC"] = src
    asyncio.run(reset_database(ctx.database_url))
    began = time.monotonic()
    where = ctx.where()
    try:
        module = importlib.import_module(SCENARIOS[name])
        outcome: ScenarioResult = module.run(ctx)
    except Exception as exc:
        traceback.print_exc()
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        rows.append(Row(name, "error", f"{type(exc).__name__}: {exc}"[:80], ok=False))
        return False
    outcome.details["elapsed_seconds"] = round(time.monotonic() - began, 1)
    for row in outcome.rows:
        row.placement = row.placement or where
    results[name] = {"rows": [r.as_dict() for r in outcome.rows], "details": outcome.details}
    rows.extend(outcome.rows)
    print(table(outcome.rows), file=sys.stderr, flush=True)
    return True


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="scenarios to run")
    parser.add_argument("--workers", type=int, default=1, help="queueit serve --workers")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per timed run")
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument(
        "--python-loadgen", action="store_true", help="use the Python load generator, not wrk"
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the servers and the load generator to different cores",
    )
    parser.add_argument(
        "--open-rate",
        type=float,
        default=None,
        metavar="VOTES_PER_S",
        help="votes' open loop at this rate instead of half the closed loop's capacity "
        "(to compare two trees at the same offered load)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra setting for every server, e.g. --set DATABASE_RLS=false",
    )
    parser.add_argument(
        "--before",
        metavar="REVISION",
        help="run each scenario first on that commit's src (git archive), then on this "
        "checkout's, and print both in one table",
    )
    args = parser.parse_args(argv)
    for item in args.set:
        key, _, value = item.partition("=")
        EXTRA_SETTINGS[key.strip().lower()] = value

    raise_open_files_limit()
    # `timeout` or a CI runner ending the run: unwind, so every server (in its own session,
    # out of reach of the signal) is stopped by its `with` block instead of left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ctx = Context(
        database_url=args.database_url,
        redis_url=args.redis_url,
        duration=args.duration,
        workers=args.workers,
        quick=args.quick,
        python_loadgen=args.python_loadgen,
        open_rate=args.open_rate,
        placement=choose_placement(args.workers, pin=not args.no_pin),
    )
    ctx.placement.apply()
    src = os.environ.get("BENCH_SRC")  # the tree measured: None is this checkout
    before_ctx, before_src = None, None
    if args.before:
        workdir = Path(tempfile.mkdtemp(prefix="queueit-bench-"))
        before_ctx = replace(ctx, workdir=workdir, notes=[])
        before_src, src = str(export_src(args.before, workdir)), None
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "started_at": started.isoformat(),
        "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "database_url": ctx.database_url,
        "workers": ctx.workers,
        "placement": ctx.placement.as_dict(),
        "extra_settings": dict(EXTRA_SETTINGS),
        "scenarios": {},
    }
    if before_ctx is not None:
        results["before"] = {"revision": args.before, "scenarios": {}}
    rows: list[Row] = []
    before_rows: list[Row] = []
    failed = False
    for name in args.only or list(SCENARIOS):
        if before_ctx is not None:
            # Each scenario on both trees back to back: the machine's mood drifts less
            # between the two figures of one row than over a whole run.
            print(f"== {name} (before: {args.before}) ...", file=sys.stderr, flush=True)
            failed |= not run_scenario(
                name, before_ctx, before_src, results["before"]["scenarios"], before_rows
            )
        print(f"== {name} ...", file=sys.stderr, flush=True)
        failed |= not run_scenario(name, ctx, src, results["scenarios"], rows)
    results["notes"] = ctx.notes
    results["reference"] = ctx.reference
    if before_ctx is not None:
        results["before"]["notes"] = before_ctx.notes
        results["before"]["reference"] = before_ctx.reference
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"bench-{stamp}-w{ctx.workers}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(f"placement: {ctx.placement.describe()} ({ctx.placement.note or 'pinned apart'})")
    print("ratios divide by the bare route / plain app measured in this run (bench.reference)")
    if before_ctx is not None:
        print(f"before: {args.before} (git archive); after: this checkout")
        print(comparison(before_rows, rows))
        for note in before_ctx.notes:
            print(f"note (before): {note}")
    else:
        print(table(rows))
    for note in ctx.notes:
        print(f"note: {note}")
    print(f"\nresults: {path}")
    workdirs = [ctx.workdir] + ([before_ctx.workdir] if before_ctx is not None else [])
    for workdir in workdirs:
        if args.keep:
            print(f"work directory (server logs): {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
