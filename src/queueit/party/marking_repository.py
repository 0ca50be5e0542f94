"""SQL the search marks read (party/marking.py): which of a search's tracks wait in the
party's queue, and the caller's vote on each. One statement, whatever the result count."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.catalog.models import Song
from queueit.party.models import QueuedSong, SongStatus, Vote


async def waiting_with_vote(
    db: AsyncSession,
    party_id: uuid.UUID,
    user_id: uuid.UUID,
    tracks: Collection[tuple[str, str]],
) -> dict[tuple[str, str], int | None]:
    """{(source, track id): the user's vote (1, -1) or None} for the tracks of `tracks`
    waiting in the party's queue; a track not waiting is absent."""
    if not tracks:
        return {}
    sources = {source for source, _ in tracks}
    ids = {track_id for _, track_id in tracks}
    query = (
        select(Song.source, Song.provider_id, Vote.value)
        .join(QueuedSong, QueuedSong.song_id == Song.id)
        .outerjoin(Vote, and_(Vote.queued_song_id == QueuedSong.id, Vote.user_id == user_id))
        .where(
            QueuedSong.party_id == party_id,
            QueuedSong.status == SongStatus.queued,
            # Both columns filtered, the exact pairs picked below: portable on SQLite and
            # PostgreSQL (a search's results share one source, so few false candidates).
            Song.source.in_(sources),
            Song.provider_id.in_(ids),
        )
    )
    wanted = set(tracks)
    found: dict[tuple[str, str], int | None] = {}
    for row in (await db.execute(query)).all():
        key = (str(row.source), str(row.provider_id))
        if key in wanted:
            found[key] = row.value
    return found
