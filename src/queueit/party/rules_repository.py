"""SQL the party's rules read (party/rules.py): what a member added lately, which tracks
the party played lately, and a guest's recent downvotes. Each is one indexed statement on
the party's own rows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.catalog.models import Song
from queueit.party.models import QueuedSong, SongStatus, Vote


async def last_added_at(
    db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID
) -> datetime | None:
    """When the member last added a new song to the party (whatever became of it)."""
    query = select(func.max(QueuedSong.added_at)).where(
        QueuedSong.party_id == party_id, QueuedSong.added_by_id == user_id
    )
    return (await db.execute(query)).scalar_one_or_none()


async def recent_tracks(
    db: AsyncSession, party_id: uuid.UUID, since: datetime
) -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    """(source, track id) pairs and ISRCs of the songs playing now, or played or skipped
    since `since`."""
    query = (
        select(Song.source, Song.provider_id, Song.isrc)
        .join(QueuedSong, QueuedSong.song_id == Song.id)
        .where(
            QueuedSong.party_id == party_id,
            or_(
                QueuedSong.status == SongStatus.playing,
                (QueuedSong.status.in_((SongStatus.played, SongStatus.skipped)))
                & (QueuedSong.finished_at >= since),
            ),
        )
    )
    rows = (await db.execute(query)).all()
    return (
        frozenset((str(r.source), str(r.provider_id)) for r in rows),
        frozenset(r.isrc.upper() for r in rows if r.isrc),
    )


async def recent_downvotes(
    db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID, *, since: datetime, limit: int
) -> list[datetime]:
    """When the member's -1 votes on the party's songs cast since `since` were cast (changing
    a vote moves its time), newest first, at most `limit` of them. A withdrawn downvote has
    no row, so it no longer counts."""
    query = (
        select(Vote.updated_at)
        .join(QueuedSong, QueuedSong.id == Vote.queued_song_id)
        .where(
            Vote.user_id == user_id,
            Vote.value == -1,
            Vote.updated_at >= since,
            QueuedSong.party_id == party_id,
        )
        .order_by(Vote.updated_at.desc())
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())
