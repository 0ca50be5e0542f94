"""Parties written straight into the benchmark database (COPY): thousands of songs in well
under a second, consistent with what the API would have written (vote totals are the sums
of the vote rows, one playing song, members point at their party)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg


@dataclass
class Party:
    session_id: uuid.UUID
    join_code: str
    host_id: uuid.UUID
    member_ids: list[uuid.UUID]
    playing_id: uuid.UUID | None
    queued_ids: list[uuid.UUID]
    totals: dict[uuid.UUID, int] = field(default_factory=dict)


async def seed_party(
    conn: asyncpg.Connection,
    *,
    queued: int,
    members: int,
    votes_per_member: int = 5,
    playing: bool = True,
    seed: int = 1,
    tag: str = "",
) -> Party:
    """One active party: a host (Spotify), `members` guests, a playing song (optional) and
    `queued` songs waiting, each member voting on `votes_per_member` of them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    tag = tag or uuid.uuid4().hex[:8]
    session_id, host_id = uuid.uuid4(), uuid.uuid4()
    member_ids = [uuid.uuid4() for _ in range(members)]
    join_code = ("B" + tag.upper().replace("-", ""))[:12]

    users = [
        (host_id, f"host-{tag}"[:30], "spotify", False, None, now - timedelta(hours=1)),
        *[
            (uid, None, "none", True, f"Guest {i}", now - timedelta(hours=1))
            for i, uid in enumerate(member_ids)
        ],
    ]
    await conn.copy_records_to_table(
        "users",
        records=[
            (uid, name, display, provider, "us", anon, None, None, active, active)
            for uid, name, provider, anon, display, active in users
        ],
        columns=[
            "id",
            "username",
            "display_name",
            "music_provider",
            "storefront",
            "is_anonymous",
            "current_session_id",
            "previous_session_id",
            "last_active_at",
            "created_at",
        ],
    )
    await conn.execute(
        "INSERT INTO sessions (id, join_code, host_id, host_provider, host_storefront, is_locked,"
        " is_paused, current_song_id, last_skip_was_crowdsourced, version, created_at,"
        " last_activity_at) VALUES ($1, $2, $3, 'spotify', 'us', false, false, NULL, false,"
        " 1, $4, $4)",
        session_id,
        join_code,
        host_id,
        now,
    )

    count = queued + (1 if playing else 0)
    song_ids = [uuid.uuid4() for _ in range(count)]
    await conn.copy_records_to_table(
        "songs",
        records=[
            (
                song_id,
                "spotify",
                f"{tag}-{n}",
                f"USBEN{n:07d}"[:12],
                f"Benchmark song number {n}",
                f"Artist {n % 97} & Featured {n % 13}",
                f"Album {n % 211}",
                150_000 + n % 120_000,
                f"https://i.scdn.co/image/ab67616d0000b273{n:024x}",
                n % 7 == 0,
                now,
            )
            for n, song_id in enumerate(song_ids)
        ],
        columns=[
            "id",
            "source",
            "provider_id",
            "isrc",
            "name",
            "artists",
            "album",
            "duration_ms",
            "image_url",
            "explicit",
            "created_at",
        ],
    )

    queued_ids = [uuid.uuid4() for _ in range(queued)]
    playing_id = uuid.uuid4() if playing else None
    votes: list[tuple[uuid.UUID, uuid.UUID, int, datetime, datetime]] = []
    totals = dict.fromkeys(queued_ids, 0)
    for uid in member_ids:
        for qid in rng.sample(queued_ids, min(votes_per_member, len(queued_ids))):
            value = 1 if rng.random() < 0.8 else -1
            votes.append((qid, uid, value, now, now))
            totals[qid] += value
    rows = []
    adders = [host_id, *member_ids]
    for n, qid in enumerate(queued_ids):
        added = now - timedelta(seconds=queued - n)
        gain = rng.random() < 0.7
        rows.append(
            (
                qid,
                session_id,
                song_ids[n],
                adders[n % len(adders)],
                "queued",
                totals[qid],
                gain,
                added + timedelta(milliseconds=rng.randint(0, 500)),
                added,
                None,
                None,
            )
        )
    if playing_id is not None:
        rows.append(
            (
                playing_id,
                session_id,
                song_ids[-1],
                host_id,
                "playing",
                0,
                True,
                now - timedelta(hours=1),
                now - timedelta(hours=1),
                now - timedelta(minutes=1),
                None,
            )
        )
    await conn.copy_records_to_table(
        "queued_songs",
        records=rows,
        columns=[
            "id",
            "session_id",
            "song_id",
            "added_by_id",
            "status",
            "votes",
            "entered_tier_by_gain",
            "last_entered_tier_at",
            "added_at",
            "started_at",
            "finished_at",
        ],
    )
    if votes:
        await conn.copy_records_to_table(
            "votes",
            records=votes,
            columns=["queued_song_id", "user_id", "value", "created_at", "updated_at"],
        )
    await conn.execute(
        "UPDATE sessions SET current_song_id = $2 WHERE id = $1", session_id, playing_id
    )
    await conn.execute(
        "UPDATE users SET current_session_id = $1 WHERE id = ANY($2::uuid[])",
        session_id,
        [host_id, *member_ids],
    )
    return Party(
        session_id=session_id,
        join_code=join_code,
        host_id=host_id,
        member_ids=member_ids,
        playing_id=playing_id,
        queued_ids=queued_ids,
        totals=totals,
    )


async def analyze(conn: asyncpg.Connection) -> None:
    """Fresh planner statistics after a bulk load (as autovacuum would give a live system)."""
    await conn.execute("ANALYZE")
