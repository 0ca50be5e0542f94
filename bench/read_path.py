"""Where a read-model hit of `GET /sessions/current` spends its CPU, layer by layer: the full
app driven in-process through ASGI (httpx's ASGI transport, no network, no server) on
PostgreSQL with row-level security, CPU time per request (best of 3 rounds) of

- `GET /bench/current` (the bare route: the stack and the read model's splice),
- `GET /users/me` (the stack, the token check and the caller's transaction: pool pre-ping,
  BEGIN, RLS `set_config`, the user row, COMMIT),
- `GET /sessions/current` (a repeat at an unchanged version: the token, from the
  verified-token cache, the caller's kept row and the splice, no database round trip:
  party/read_model_caller.py),

and, below the HTTP layer, the token check alone (a cache hit), a unit of work with the
caller's row, the same with the read model's statement (the general path of a hit), the
answer of a repeat from the kept row, and the one-statement answer of a hit with nothing
kept (`queueit_rls.caller_current`: the first request after a version moved). The
differences are the cost of each layer.

    python -m bench.read_path [--database-url URL] [--requests 1000]

The database is dropped and re-created (the names `test` and `postgres` are refused), as in
`bench.run`; BENCH_DATABASE_URL is the default."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import loadgen
from bench.harness import base_settings, bearer, reset_database, token

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/queueit_perf"
SONGS = 50


async def best_of_three(run: Callable[[], Awaitable[Any]], requests: int) -> float:
    """Best of 3 rounds of `requests` calls, CPU seconds per call (after a warm-up)."""
    for _ in range(min(requests, 100)):
        await run()
    best = float("inf")
    for _ in range(3):
        began = time.process_time()
        for _ in range(requests):
            await run()
        best = min(best, (time.process_time() - began) / requests)
    return best


async def _party(client: httpx.AsyncClient) -> dict[str, str]:
    """A party with SONGS songs and a guest; the guest's headers."""
    from queueit.catalog.local import DEMO_CATALOG_PATH, load_tracks

    host = bearer(token(uuid.uuid4(), anonymous=False))
    me = {"username": f"host-{uuid.uuid4().hex[:8]}", "music_provider": "spotify"}
    (await client.patch("/api/v1/users/me", json=me, headers=host)).raise_for_status()
    created = await client.post("/api/v1/sessions/create", json={}, headers=host)
    created.raise_for_status()
    code = created.json()["session"]["join_code"]
    for track in load_tracks(DEMO_CATALOG_PATH)[:SONGS]:
        body = track.model_dump(mode="json")
        (await client.post("/api/v1/songs/add", json=body, headers=host)).raise_for_status()
    guest = bearer(token(uuid.uuid4()))
    joined = await client.post("/api/v1/sessions/join", json={"join_code": code}, headers=guest)
    joined.raise_for_status()
    return guest


@asynccontextmanager
async def in_process_app(
    url: str, prefix: str
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Path]]:
    """The full app on `url` (bench endpoints on) in its lifespan, an HTTP client driving it
    through ASGI (no network, no server), and its data directory (removed afterwards)."""
    from queueit.core.settings import Settings
    from queueit.main import create_app

    data = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        values = base_settings(url, data, bench_endpoints="true")
        app = create_app(Settings(_env_file=None, **values))  # type: ignore[arg-type]
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                yield app, client, data
    finally:
        shutil.rmtree(data, ignore_errors=True)


async def main(url: str, requests: int) -> None:
    from queueit.core.uow import open_uow
    from queueit.party import read_model_repository
    from queueit.users import service as users_service

    await reset_database(url)
    async with in_process_app(url, "queueit-read-path-") as (app, client, data):
        guest = await _party(client)
        current = await client.get("/api/v1/sessions/current", headers=guest)
        current.raise_for_status()
        (data / "bench-current.json").write_bytes(current.content)
        print(f"document: {len(current.content)} bytes, {SONGS} songs, PostgreSQL, RLS on")
        routes = (
            ("GET /bench/current (bare)", "/bench/current", {}),
            ("GET /users/me", "/api/v1/users/me", guest),
            ("GET /sessions/current (hit)", "/api/v1/sessions/current", guest),
        )
        for name, path, headers in routes:

            async def get(path: str = path, headers: dict[str, str] = headers) -> None:
                (await client.get(path, headers=headers)).raise_for_status()

            print(f"{name:34} {await best_of_three(get, requests) * 1e3:6.3f} ms CPU/request")

        state = app.state.ctx
        raw = guest["Authorization"].removeprefix("Bearer ")
        claims = await state.verifier.verify(raw)

        async def verify() -> None:
            await state.verifier.verify(raw)

        async def caller() -> None:
            async with open_uow(state.database) as uow:
                await users_service.current_user(uow, claims=claims)

        async def caller_and_view() -> None:
            async with open_uow(state.database) as uow:
                user = await users_service.current_user(uow, claims=claims)
                assert user.current_party_id is not None
                await read_model_repository.caller_view(uow.session, user.current_party_id, user.id)

        async def fast() -> None:
            # None every PRESENCE_WRITE_INTERVAL: the route then takes the general path
            # once, for the presence write (not measured here).
            await state.fast_path.current(
                cache=state.read_model, claims=claims, queue_limit=100, queue_offset=0
            )

        # (A tree from before the kept rows, through BENCH_SRC: both lines cost the statement.)
        kept = getattr(state.fast_path, "callers", None)

        async def fast_unkept() -> None:
            if kept is not None:
                kept.drop((claims.sub, claims.is_anonymous))
            await fast()

        for name, run in (
            ("token check", verify),
            ("kept-row hit (no round trip)", fast),
            ("one-statement hit (nothing kept)", fast_unkept),
            ("unit of work + the caller's row", caller),
            ("  + the read model's statement", caller_and_view),
        ):
            print(f"{name:34} {await best_of_three(run, requests) * 1e3:6.3f} ms CPU/call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    loadgen.run(main(args.database_url, args.requests))
