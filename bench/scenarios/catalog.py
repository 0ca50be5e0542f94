"""Scenario 5, catalog search: GET /api/v1/catalog/search on cache misses (a new query every
time: the server asks the provider) and cache hits (queries already asked), with Spotify
played by bench/fake_spotify.py on 127.0.0.1 (answers in well under a millisecond, so the
figures are the server's own cost). Measured with the search cache in memory and in Redis."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import httpx

from bench import loadgen
from bench.context import Context, Row, ScenarioResult
from bench.harness import ROOT, Server, base_settings, bearer
from bench.harness import token as mint
from bench.procfs import busy_warning
from bench.stats import latency_summary

CONNECTIONS = 4
HIT_QUERIES = 20


class FakeSpotify:
    def __init__(self, delay_ms: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_spotify", "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def searches(self) -> int:
        return int(httpx.get(f"{self.url}/stats", timeout=5).json()["searches"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _run(server: Server, tok: str, queries: list[str], warmup: int) -> dict[str, Any]:
    headers = bearer(tok)
    pending = iter(queries)

    def next_request(_worker: int) -> loadgen.Request | None:
        q = next(pending, None)
        if q is None:
            return None
        return loadgen.Request("GET", f"/api/v1/catalog/search?q={q}&limit=10", headers)

    result = loadgen.run(
        loadgen.closed_loop(server.base_url, connections=CONNECTIONS, next_request=next_request)
    )
    return {
        "requests": result.requests,
        "rps": round(result.rps, 1),
        "statuses": {str(k): v for k, v in result.statuses.items()},
        **latency_summary(result.latencies_ms[warmup:]),
    }


def _measure(ctx: Context, fake: FakeSpotify, cache: str, count: int) -> dict[str, Any]:
    extra = {
        "catalog_provider": "spotify",
        "spotify_client_id": "bench",
        "spotify_client_secret": "bench",
        "spotify_api_url": f"{fake.url}/v1",
        "spotify_accounts_url": fake.url,
    }
    if cache == "redis":
        extra["redis_url"] = ctx.redis_url
    data_dir = ctx.data_dir(f"catalog-{cache}")
    settings = base_settings(ctx.database_url, data_dir, **extra)
    tok = mint(uuid.uuid4())
    run_id = uuid.uuid4().hex[:8]  # fresh keys in a shared Redis
    with Server(settings, workdir=data_dir, cpus=ctx.server_cpus) as server:
        hits = [f"hit{run_id}q{n % HIT_QUERIES}" for n in range(count + HIT_QUERIES)]
        _run(server, tok, hits[:HIT_QUERIES], 0)  # fill the cache (and the token)
        before = fake.searches()
        hit = _run(server, tok, hits[HIT_QUERIES:], 10)
        hit_upstream = fake.searches() - before
        before = fake.searches()
        miss = _run(server, tok, [f"miss{run_id}q{n}" for n in range(count)], 10)
        miss_upstream = fake.searches() - before
    return {
        "hit": {**hit, "provider_calls": hit_upstream},
        "miss": {**miss, "provider_calls": miss_upstream},
    }


def run(ctx: Context) -> ScenarioResult:
    count = 200 if ctx.quick else 1000
    details: dict[str, Any] = {"connections": CONNECTIONS, "requests_each": count}
    warning = busy_warning()
    if warning:
        details["warning"] = warning
    fake = FakeSpotify()
    try:
        for cache in ("memory", "redis"):
            details[cache] = _measure(ctx, fake, cache, count)
    finally:
        fake.stop()
    rows = []
    for cache in ("memory", "redis"):
        for kind in ("hit", "miss"):
            item = details[cache][kind]
            expected_calls = 0 if kind == "hit" else count
            rows.append(
                Row(
                    "5 catalog",
                    f"search, {cache} cache, {kind}: p50/p99 ({CONNECTIONS} conns)",
                    f"{item['p50_ms']:.1f}/{item['p99_ms']:.1f} ms, "
                    f"{item['rps']:,.0f} req/s, provider calls {item['provider_calls']}",
                    f"provider calls {expected_calls}",
                    item["provider_calls"] == expected_calls and item["statuses"] == {"200": count},
                )
            )
    return ScenarioResult(rows, details)
