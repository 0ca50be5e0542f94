"""SQL for the songs table: the tracks parties have queued, shared by every party."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.catalog.models import Song
from queueit.catalog.schemas import Track
from queueit.core.engine import insert_for
from queueit.core.types import utcnow


async def upsert_song(db: AsyncSession, track: Track) -> uuid.UUID:
    """The row for a track (source + provider id). The first stored metadata is kept: the
    songs table is shared by every party, so one party's add must not rename a track that
    other parties have queued."""
    values = {
        "source": track.source,
        "provider_id": track.id,
        "isrc": track.isrc,
        "name": track.name,
        "artists": track.artists,
        "album": track.album,
        "duration_ms": track.duration_ms,
        "image_url": track.image_url,
        "explicit": track.explicit,
    }
    statement = (
        insert_for(db)(Song)
        .values(id=uuid.uuid4(), created_at=utcnow(), **values)
        .on_conflict_do_nothing(index_elements=["source", "provider_id"])
        .returning(Song.id)
    )
    inserted: uuid.UUID | None = (await db.execute(statement)).scalar_one_or_none()
    if inserted is not None:
        return inserted
    existing = select(Song.id).where(Song.source == track.source, Song.provider_id == track.id)
    song_id: uuid.UUID = (await db.execute(existing)).scalar_one()
    return song_id
