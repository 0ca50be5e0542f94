"""The served process's garbage collector, set once its startup is done (issue 17).

CPython's cyclic collector runs a young-generation pass every 700 net allocations and, now
and then, a full pass over every object the process holds. A server's startup leaves some
hundreds of thousands of objects that live as long as the process (modules, the routes and
their models, pydantic's validators, SQLAlchemy's tables and compiled statements, settings):
each full pass walked all of them, and each request allocates enough to trigger several young
passes, whose survivors (a request's objects still in flight) later make the full passes
come round. Measured with `make bench BENCH_ARGS="--before <the commit before this one>"`
(docs/BENCHMARKS.md, fourth round): the server's CPU per vote fell by about 40 %, and the
closed loop's capacity rose by half.

`settle()` collects once, then freezes what is left (`gc.freeze()`: the collector never
looks at those objects again; refcounting still frees them if they die), and raises the
young generation's threshold, so that a request's short-lived objects are mostly freed by
refcounting before a pass ever sees them. Cyclic garbage is still collected, in larger
batches: a young cycle waits at most 20,000 net allocations for its pass, and what outlives
that waits, as before, for the older generations' rarer passes.

`queueit serve` settles each worker at the end of its lifespan's startup (main.py); an app a
test or a tool makes with `create_app` keeps the interpreter's defaults (a test process makes
hundreds of apps, and freezing in each would keep every earlier one's garbage for good)."""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 50, 100)


def settle() -> None:
    """Collect, freeze what startup left, raise the thresholds (once per served process)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
