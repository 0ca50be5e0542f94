"""GET /sessions/current costs the same number of SQL statements for 5 or 500 songs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select

from queueit.catalog.models import Song
from queueit.party import read_model
from queueit.party.models import Party, QueuedSong, SongStatus
from tests.factories import make_host, make_user, track
from tests.statements import statements_for

API = "/api/v1"


async def _statements_for_current(
    app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str]
) -> int:
    statements, response = await statements_for(
        app, client, "GET", f"{API}/sessions/current?queue_limit=500", headers=headers
    )
    assert response.status_code == 200
    return statements


async def seed_queued_songs(app: FastAPI, *, join_code: str, count: int) -> None:
    """`count` more queued songs for the party, written in two statements (adding 500 songs
    one request at a time would take most of this test's time, and is not what it measures)."""
    async with app.state.ctx.database.sessionmaker() as db:
        party = (await db.execute(select(Party).where(Party.join_code == join_code))).scalar_one()
        now = datetime.now(UTC)
        songs = [
            {
                "id": uuid.uuid4(),
                "source": "spotify",
                "provider_id": f"seeded-{join_code}-{n}",
                "isrc": "",
                "name": f"Seeded {n}",
                "artists": "Artist",
                "album": "Album",
                "duration_ms": 180_000,
                "image_url": None,
                "explicit": None,
                "created_at": now,
            }
            for n in range(count)
        ]
        await db.execute(insert(Song), songs)
        queued = [
            {
                "id": uuid.uuid4(),
                "party_id": party.id,
                "song_id": song["id"],
                "added_by_id": party.host_id,
                "status": SongStatus.queued,
                "votes": 0,
                "entered_tier_by_gain": True,
                "last_entered_tier_at": now + timedelta(seconds=n),
                "added_at": now + timedelta(seconds=n),
            }
            for n, song in enumerate(songs)
        ]
        await db.execute(insert(QueuedSong), queued)
        await db.commit()


async def test_current_uses_a_constant_number_of_statements(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    counts = {}
    for size, code in ((5, "SMALL"), (500, "LARGE")):
        host = await make_host(client)
        await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
        guest = await make_user(client, anonymous=True)
        await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
        for n in range(3):  # through the API: the first one plays, the others wait
            await client.post(f"{API}/songs/add", json=track(f"{code}-{n}"), headers=host)
        await seed_queued_songs(app, join_code=code, count=size - 3)
        # A vote on every song so my_votes is large too.
        body = (await client.get(f"{API}/sessions/current?queue_limit=500", headers=guest)).json()
        assert body["queue_total"] == size - 1
        for item in body["queue"][:50]:
            await client.post(
                f"{API}/songs/{item['id']}/vote", json={"vote_value": 1}, headers=guest
            )
        # Built (no document in this process's read model), then served from it: each a
        # constant number of statements (a stale document in the read model costs one more,
        # its version check, so the cold build starts from an empty one: deterministic).
        app.state.ctx.read_model = read_model.ReadModel(clock=lambda: 0.0)  # never expires
        built = await _statements_for_current(app, client, guest)
        counts[size] = (built, await _statements_for_current(app, client, guest))
    assert counts[5] == counts[500]
    built, served = counts[5]
    assert built <= 10 and served < built


@pytest.mark.vote_twin
async def test_a_vote_uses_a_constant_number_of_statements(
    app: FastAPI, client: httpx.AsyncClient, backend: str, vote_path: str
) -> None:
    """Casting, changing and withdrawing a vote each cost the same few statements whatever the
    queue's size: the party's lock, the song's with the caller's vote, the vote row, the total
    and the version (on PostgreSQL the last two in one statement), and the caller's own; on
    PostgreSQL with row-level security, one (party/vote_fast_path.py)."""
    counts = {}
    for size, code in ((5, "VSMALL"), (500, "VLARGE")):
        host = await make_host(client)
        await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
        guest = await make_user(client, anonymous=True)
        await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
        for n in range(2):
            await client.post(f"{API}/songs/add", json=track(f"{code}-{n}"), headers=host)
        await seed_queued_songs(app, join_code=code, count=size - 2)
        body = (await client.get(f"{API}/sessions/current", headers=guest)).json()
        url = f"{API}/songs/{body['queue'][0]['id']}/vote"
        steps = []
        for method, kwargs in (
            ("POST", {"json": {"vote_value": 1}}),
            ("POST", {"json": {"vote_value": -1}}),
            ("DELETE", {}),
        ):
            statements, response = await statements_for(
                app, client, method, url, headers=guest, **kwargs
            )
            assert response.status_code == 200
            steps.append(statements)
        counts[size] = steps
    assert counts[5] == counts[500]
    if backend == "postgresql" and vote_path == "fast":
        assert counts[5] == [1, 1, 1]
        return
    # 6 on both databases (it was 8 on PostgreSQL and 7 on SQLite before the vote's path
    # was written in Core statements: docs/BENCHMARKS.md).
    assert max(counts[5]) <= 6
