"""Where one vote spends its CPU: the full app driven in-process through ASGI (httpx's ASGI
transport, no network, no server) on PostgreSQL with row-level security, the parties seeded
as scenario 2 (`votes`) seeds them (10 members each, 50 songs waiting), CPU time per request
(best of 3 rounds) of

- `GET /bench/current` (the bare route, the yardstick of issue 17's ratios),
- `GET /users/me` (the stack, the token check and the caller's transaction),
- `POST /songs/{id}/vote` (the same, plus the vote: every vote changes a total, as in the
  scenario: none -> +1 -> -1 -> +1 ...),

the PostgreSQL CPU per vote (the backends of the benchmark database, from /proc), and below
the HTTP layer the vote's service call alone in a unit of work. `--profile` adds a cProfile of
the votes (CPU clock), summed by layer (ORM, Core, asyncpg, pydantic, ...) and by function.

    python -m bench.vote_path [--database-url URL] [--requests 500] [--profile]

The database is dropped and re-created (the names `test` and `postgres` are refused), as in
`bench.run`; BENCH_DATABASE_URL is the default."""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from bench import loadgen
from bench.harness import asyncpg_dsn, bearer, database_name, reset_database, token
from bench.procfs import cpu_times, postgres_pids
from bench.read_path import best_of_three, in_process_app
from bench.seed import Party, analyze, seed_party

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/queueit_perf"
PARTIES = 2
MEMBERS = 10
SONGS = 50
_NEXT = {None: 1, 1: -1, -1: 1}

# Where a function's own time is counted (first match of its file's path).
LAYERS = (
    ("queueit", "/queueit/"),
    ("sqlalchemy orm", "/sqlalchemy/orm/"),
    ("sqlalchemy asyncio", "/sqlalchemy/ext/asyncio/"),
    ("sqlalchemy sql (compile, cache)", "/sqlalchemy/sql/"),
    ("sqlalchemy engine", "/sqlalchemy/engine/"),
    ("sqlalchemy other", "/sqlalchemy/"),
    ("asyncpg", "/asyncpg/"),
    ("pydantic", "/pydantic"),
    ("fastapi", "/fastapi/"),
    ("starlette", "/starlette/"),
    ("httpx (the load generator's)", "/httpx/"),
    ("structlog", "/structlog/"),
    ("jwt / crypto", "/jwt/"),
    ("asyncio", "/asyncio/"),
)


class Voters:
    """Members of the seeded parties voting in turn, each vote changing a total."""

    def __init__(self, parties: list[Party]) -> None:
        self.members = [
            (bearer(token(uid)), party.queued_ids) for party in parties for uid in party.member_ids
        ]
        self.sent = 0
        self.values: dict[tuple[int, uuid.UUID], int] = {}

    def next(self) -> tuple[str, dict[str, str], dict[str, int]]:
        index = self.sent % len(self.members)
        headers, songs = self.members[index]
        song = songs[(self.sent // len(self.members)) % len(songs)]
        self.sent += 1
        value = _NEXT[self.values.get((index, song))]
        self.values[(index, song)] = value
        return f"/api/v1/songs/{song}/vote", headers, {"vote_value": value}


async def _seed(url: str) -> list[Party]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        parties = [
            await seed_party(
                conn, queued=SONGS, members=MEMBERS, votes_per_member=0, seed=n, tag=f"vp-{n}"
            )
            for n in range(PARTIES)
        ]
        await analyze(conn)
    finally:
        await conn.close()
    return parties


def _layers(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own (tottime) CPU seconds summed by layer."""
    totals: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        layer = next((name for name, part in LAYERS if part in filename), "other")
        totals[layer] += tottime
    return sorted(totals.items(), key=lambda item: -item[1])


async def main(url: str, requests: int, profile: bool) -> None:
    await reset_database(url)
    parties = await _seed(url)
    voters = Voters(parties)
    async with in_process_app(url, "queueit-vote-path-") as (app, client, data):
        host = bearer(token(parties[0].host_id, anonymous=False))
        current = await client.get("/api/v1/sessions/current", headers=host)
        current.raise_for_status()
        (data / "bench-current.json").write_bytes(current.content)

        async def vote() -> None:
            path, headers, body = voters.next()
            (await client.post(path, json=body, headers=headers)).raise_for_status()

        guest = voters.members[0][0]
        routes: tuple[tuple[str, Callable[[], Awaitable[None]]], ...] = (
            ("GET /bench/current (bare)", _get(client, "/bench/current", {})),
            ("GET /users/me", _get(client, "/api/v1/users/me", guest)),
            ("POST /songs/{id}/vote", vote),
        )
        print(f"{PARTIES} parties x {MEMBERS} members, {SONGS} songs, PostgreSQL, RLS on")
        database = database_name(url)
        for name, run in routes:
            pg_before = cpu_times(postgres_pids(database))
            sent = voters.sent
            cpu = await best_of_three(run, requests)
            line = f"{name:34} {cpu * 1e3:6.3f} ms CPU/request"
            if voters.sent > sent:
                pg = _pg_seconds(pg_before, cpu_times(postgres_pids(database)))
                line += f"   PostgreSQL {pg * 1e3 / (voters.sent - sent):6.3f} ms/vote"
            print(line)
        if profile:
            await _profile_votes(vote, requests)
        await _service_alone(app, parties, requests)


def _get(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> Callable[[], Awaitable[None]]:
    async def get() -> None:
        (await client.get(path, headers=headers)).raise_for_status()

    return get


def _pg_seconds(before: dict[int, float], after: dict[int, float]) -> float:
    return max(0.0, sum(t - before.get(pid, 0.0) for pid, t in after.items()))


async def _service_alone(app: Any, parties: list[Party], requests: int) -> None:
    """The vote's service call in a unit of work with the caller's row (the route without
    the HTTP stack), and the unit of work with the caller's row alone."""
    from queueit.core.security import Claims
    from queueit.core.uow import open_uow
    from queueit.party import voting
    from queueit.users import service as users_service

    state = app.state.ctx
    party = parties[1]
    member = party.member_ids[0]
    claims: Claims = await state.verifier.verify(token(member))
    song_values: dict[uuid.UUID, int] = {}
    turn = 0

    async def caller() -> None:
        async with open_uow(state.database) as uow:
            await users_service.current_user(uow, claims=claims)

    async def caller_and_vote() -> None:
        nonlocal turn
        song = party.queued_ids[turn % len(party.queued_ids)]
        turn += 1
        value = _NEXT[song_values.get(song)]
        song_values[song] = value
        async with open_uow(state.database) as uow:
            user = await users_service.current_user(uow, claims=claims)
            await voting.vote(uow, actor=user, queued_song_id=song, value=value)

    for name, run in (
        ("unit of work + the caller's row", caller),
        ("  + voting.vote", caller_and_vote),
    ):
        print(f"{name:34} {await best_of_three(run, requests) * 1e3:6.3f} ms CPU/call")


async def _profile_votes(vote: Callable[[], Awaitable[None]], requests: int) -> None:
    """A cProfile of `requests` votes (CPU clock): own time by layer, then by function; and
    with pyinstrument installed (not a dependency), its call tree too (wall clock, awaits
    of the database shown as such)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("(pyinstrument is not installed: cProfile only)")
    else:
        sampler = Profiler(interval=0.0002, async_mode="enabled")
        sampler.start()
        for _ in range(requests):
            await vote()
        sampler.stop()
        print(sampler.output_text(unicode=False, color=False, show_all=False))
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        await vote()
    profiler.disable()
    stats = pstats.Stats(profiler)
    print("\nown CPU by layer, ms per vote (cProfile: inflated by its own overhead)")
    for layer, seconds in _layers(stats):
        print(f"  {layer:34} {seconds * 1e3 / requests:6.3f}")
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(60)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile")
    args = parser.parse_args()
    loadgen.run(main(args.database_url, args.requests, args.profile))
