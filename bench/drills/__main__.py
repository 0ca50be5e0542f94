"""`python -m bench.drills`: run the fault drills, print their checks, write JSON to
bench/results/. Exit status 1 when a check failed.

    python -m bench.drills                      # all drills
    python -m bench.drills --only sigterm       # some
    python -m bench.drills --json out.json      # also write the outcome there (tests do)
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import RESULTS_DIR
from bench.procfs import machine

DRILLS = {
    "postgres_restart": ("bench.drills.postgres_restart", ["postgres"]),
    "redis_kill": ("bench.drills.redis_kill", ["redis"]),
    "slow_client": ("bench.drills.slow_client", []),
    "sigterm": ("bench.drills.sigterm", []),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drills", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(DRILLS))
    parser.add_argument("--json", type=Path, help="also write the outcome to this file")
    args = parser.parse_args(argv)

    from bench.drills.infra import missing_tools

    outcome: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "drills": {},
    }
    failed = False
    for name in args.only or list(DRILLS):
        module_name, needs = DRILLS[name]
        missing = missing_tools(*needs)
        if missing:
            outcome["drills"][name] = {"skipped": f"missing: {', '.join(missing)}"}
            print(f"{name}: SKIPPED (missing {', '.join(missing)})")
            continue
        workdir = Path(tempfile.mkdtemp(prefix=f"queueit-drill-{name}-"))
        began = time.monotonic()
        try:
            result = importlib.import_module(module_name).run(workdir)
        except Exception as exc:
            traceback.print_exc()
            result = {
                "checks": {"ran_to_completion": False},
                "error": f"{type(exc).__name__}: {exc}",
            }
        result["seconds"] = round(time.monotonic() - began, 1)
        outcome["drills"][name] = result
        ok = all(result["checks"].values())
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            result["workdir"] = str(workdir)  # the server logs, for the post-mortem
        failed = failed or not ok
        print(f"{name}: {'PASS' if ok else 'FAIL'} in {result['seconds']} s")
        for check, passed in result["checks"].items():
            print(f"    {'ok ' if passed else 'NO '} {check}")
        details = {k: v for k, v in result.items() if k not in ("checks", "seconds")}
        print("    " + json.dumps(details, default=str))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(outcome, indent=2, default=str) + "\n"
    (RESULTS_DIR / f"drills-{stamp}.json").write_text(text)
    if args.json:
        args.json.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
