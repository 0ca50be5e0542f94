"""Where the bare route's CPU goes: `GET /bench/current` driven in-process through the ASGI
interface of the full app (`queueit.main.create_app`, SQLite, BENCH_ENDPOINTS=true) and of the
plain app (`bench.plain_app`), no network and no server, CPU time per request (best of 3
rounds), then a cProfile of the full app with a CPU clock. What it shows is the cost of the
stack itself (middleware, routing, dependencies, response model and serialiser), the part of
issue 17's middleware target that no load generator can tell apart.

    python -m bench.stack_profile DOCUMENT [--requests 2000] [--profile]
    PYTHONHASHSEED=0 valgrind --tool=callgrind python -m bench.stack_profile DOCUMENT \
        --drive-only full --requests N          # N = 0 and 500: instructions per request

DOCUMENT: a `GET /sessions/current` answer, e.g. `<work dir>/ceiling/bench-current.json`
from `python -m bench.run --only ceiling --keep`."""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.harness import PLAIN_BODY_ENV, SECRET

PATH = "/bench/current"


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _drive(app: Any, requests: int) -> int:
    """`requests` requests one after the other; returns the last body's length."""
    length = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal length
        if message["type"] == "http.response.body":
            length = len(message.get("body", b""))

    for _ in range(requests):
        await app(_scope(), receive, send)
    return length


async def _cpu_per_request(app: Any, requests: int) -> tuple[float, int]:
    await _drive(app, 200)  # warm-up
    best = float("inf")
    for _ in range(3):
        began = time.process_time()
        length = await _drive(app, requests)
        best = min(best, (time.process_time() - began) / requests)
    return best, length


async def main(document: Path, requests: int, profile: bool, drive_only: str | None) -> None:
    from queueit.core import migrate
    from queueit.core.engine import create_engine
    from queueit.core.settings import Settings
    from queueit.main import create_app

    data = Path(tempfile.mkdtemp(prefix="queueit-stack-"))
    try:
        shutil.copy(document, data / "bench-current.json")
        os.environ[PLAIN_BODY_ENV] = str(document)
        from bench.plain_app import app as plain

        settings = Settings(
            _env_file=None,
            environment="development",
            database_url=f"sqlite+aiosqlite:///{data}/bench.db",
            data_dir=data,
            local_jwt_secret=SECRET,
            rate_limit_enabled=False,
            log_level="WARNING",
            log_json=True,
            bench_endpoints=True,
            catalog_provider="local",
            session_sweep_seconds=0,
        )
        # At the schema's head, as the benchmark's server is: a schema behind makes the app
        # re-check it every second, work an instruction count would charge to the requests.
        engine = create_engine(settings)
        await migrate.upgrade(engine)
        await engine.dispose()
        app = create_app(settings)
        if drive_only == "plain":
            await _drive(plain, requests)
            return
        async with app.router.lifespan_context(app):
            if drive_only == "full":
                await _drive(app, 50)  # what the first requests build (route index, children)
                await _drive(app, requests)
                return
            full_cpu, full_len = await _cpu_per_request(app, requests)
            plain_cpu, plain_len = await _cpu_per_request(plain, requests)
            print(f"full app  {PATH}: {full_cpu * 1e6:7.1f} us CPU/request ({full_len} bytes)")
            print(f"plain app {PATH}: {plain_cpu * 1e6:7.1f} us CPU/request ({plain_len} bytes)")
            print(f"ratio: {full_cpu / plain_cpu:.1f}x")
            if profile:
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
                await _drive(app, requests)
                profiler.disable()
                stats = pstats.Stats(profiler)
                stats.sort_stats("tottime").print_stats(20)
                stats.sort_stats("cumulative").print_stats(35)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("document", type=Path)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile")
    parser.add_argument(
        "--drive-only",
        choices=("full", "plain"),
        help="only send --requests requests to one app, untimed (for an instruction counter: "
        "the difference between two counts of requests is the cost of the extra ones)",
    )
    args = parser.parse_args()
    loadgen.run(main(args.document.resolve(), args.requests, args.profile, args.drive_only))
