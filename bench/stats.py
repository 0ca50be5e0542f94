"""The one definition of every statistic the benchmarks and drills print.

Percentiles are **nearest-rank**: the q-th percentile of n values is the value at rank
ceil(q * n) (1-based) of the sorted values, so it is always one of the measured values and
at least a fraction q of the values are at or below it. p100 is the maximum; p0 is the
minimum. wrk's own percentiles (HdrHistogram-style rounding) are not used: `bench.loadgen`
exports wrk's latency histogram and its figures go through this function too."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean of latencies in milliseconds."""
    return {
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p90_ms": round(percentile(ms, 0.90), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2) if ms else 0.0,
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else 0.0,
    }


def fairness(counts: Sequence[int]) -> dict[str, float]:
    """How evenly a closed loop shared the server: per-client counts of answered requests,
    their minimum, median, maximum and min/median (1.0: perfectly even; 0: someone starved)."""
    if not counts:
        return {"min": 0, "median": 0.0, "max": 0, "min_over_median": 0.0}
    median = float(statistics.median(counts))
    return {
        "min": min(counts),
        "median": median,
        "max": max(counts),
        "min_over_median": round(min(counts) / median, 3) if median else 0.0,
    }
