"""Fault drills: scripted, self-stopping, loopback only (bench/README.md, docs/BENCHMARKS.md).
Each drill module has `run(workdir) -> dict` whose `checks` must all be true."""
