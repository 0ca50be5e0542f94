"""SQL for the songs table: the tracks parties have queued, shared by every party."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.catalog.models import Song
from queueit.catalog.schemas import Track
from queueit.core.engine import insert_for
from queueit.core.types import utcnow


def _values(track: Track) -> dict[str, Any]:
    return {
        "isrc": track.isrc,
        "name": track.name,
        "artists": track.artists,
        "album": track.album,
        "duration_ms": track.duration_ms,
        "image_url": track.image_url,
        "explicit": track.explicit,
    }


async def find(db: AsyncSession, source: str, provider_id: str) -> Song | None:
    statement = select(Song).where(Song.source == source, Song.provider_id == provider_id)
    song: Song | None = (await db.execute(statement)).scalar_one_or_none()
    return song


async def insert(db: AsyncSession, track: Track, *, verified_at: datetime | None) -> uuid.UUID:
    """The row of `track`, inserted when new; an existing row is left as it is (the caller
    decides whether to overwrite it)."""
    statement = (
        insert_for(db)(Song)
        .values(
            id=uuid.uuid4(),
            created_at=utcnow(),
            source=track.source,
            provider_id=track.id,
            verified_at=verified_at,
            **_values(track),
        )
        .on_conflict_do_nothing(index_elements=["source", "provider_id"])
        .returning(Song.id)
    )
    inserted: uuid.UUID | None = (await db.execute(statement)).scalar_one_or_none()
    if inserted is not None:
        return inserted
    existing = select(Song.id).where(Song.source == track.source, Song.provider_id == track.id)
    song_id: uuid.UUID = (await db.execute(existing)).scalar_one()
    return song_id


async def overwrite(
    db: AsyncSession, song_id: uuid.UUID, track: Track, verified_at: datetime | None
) -> None:
    """Replace a row's metadata: with the catalog's (`track` was built from the catalog,
    `verified_at` set), or with neutral text for a track the catalog does not know."""
    await db.execute(
        update(Song)
        .where(Song.id == song_id)
        .values(verified_at=verified_at, **_values(track))
        .execution_options(synchronize_session=False)
    )


async def to_reverify(
    db: AsyncSession, *, after: uuid.UUID | None, limit: int, everything: bool = False
) -> list[Song]:
    """Rows whose text did not come from the catalog (or every row), in id order."""
    statement = select(Song).order_by(Song.id).limit(limit)
    if not everything:
        statement = statement.where(Song.verified_at.is_(None))
    if after is not None:
        statement = statement.where(Song.id > after)
    return list((await db.execute(statement)).scalars())
