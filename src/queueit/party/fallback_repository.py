"""SQL for a party's fallback source (docs/DOMAIN.md "Fallback source"): the source row, its
ordered tracks, and the fallback entries autofill queues. Each is one statement on the party's
own rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.catalog.models import Song
from queueit.party.models import FallbackSource, FallbackTrack, QueuedSong, SongStatus

CandidateRow = Row[Any, Any, Any]  # (position, Song, waiting already)


async def source(db: AsyncSession, party_id: uuid.UUID) -> FallbackSource | None:
    return await db.get(FallbackSource, party_id, populate_existing=True)


async def clear(db: AsyncSession, party_id: uuid.UUID) -> bool:
    """Forget the party's source and its tracks; whether there was one. Fallback entries
    already waiting stay (they are songs in the queue like any other)."""
    await db.execute(delete(FallbackTrack).where(FallbackTrack.party_id == party_id))
    result = await db.execute(delete(FallbackSource).where(FallbackSource.party_id == party_id))
    return bool(getattr(result, "rowcount", 0))


async def replace(
    db: AsyncSession,
    party_id: uuid.UUID,
    *,
    kind: str,
    label: str,
    song_ids: Sequence[uuid.UUID],
    at: datetime,
) -> None:
    await clear(db, party_id)
    await db.execute(
        insert(FallbackSource).values(party_id=party_id, kind=kind, label=label, created_at=at)
    )
    if song_ids:
        rows = [
            {"party_id": party_id, "position": position, "song_id": song_id}
            for position, song_id in enumerate(song_ids)
        ]
        await db.execute(insert(FallbackTrack), rows)


async def counts(db: AsyncSession, party_id: uuid.UUID) -> tuple[int, int]:
    """(tracks in the source, tracks autofill took this round)."""
    query = select(func.count(), func.count(FallbackTrack.used_at)).where(
        FallbackTrack.party_id == party_id
    )
    total, used = (await db.execute(query)).one()
    return int(total), int(used)


async def tracks(db: AsyncSession, party_id: uuid.UUID, *, limit: int) -> Sequence[Song]:
    query = (
        select(Song)
        .join(FallbackTrack, FallbackTrack.song_id == Song.id)
        .where(FallbackTrack.party_id == party_id)
        .order_by(FallbackTrack.position)
        .limit(limit)
    )
    return (await db.execute(query)).scalars().all()


async def unused(db: AsyncSession, party_id: uuid.UUID) -> Sequence[CandidateRow]:
    """The tracks autofill has not taken this round, in the source's order, with whether
    each is waiting in the party already."""
    waiting = (
        select(QueuedSong.id)
        .where(
            QueuedSong.party_id == party_id,
            QueuedSong.song_id == FallbackTrack.song_id,
            QueuedSong.status == SongStatus.queued,
        )
        .exists()
    )
    query = (
        select(FallbackTrack.position, Song, waiting.label("waiting"))
        .join(Song, Song.id == FallbackTrack.song_id)
        .where(FallbackTrack.party_id == party_id, FallbackTrack.used_at.is_(None))
        .order_by(FallbackTrack.position)
    )
    return (await db.execute(query)).all()


async def mark_used(
    db: AsyncSession, party_id: uuid.UUID, positions: Sequence[int], at: datetime
) -> None:
    if positions:
        await db.execute(
            update(FallbackTrack)
            .where(FallbackTrack.party_id == party_id, FallbackTrack.position.in_(positions))
            .values(used_at=at)
        )


async def start_over(db: AsyncSession, party_id: uuid.UUID) -> None:
    """Every track was taken: the next round starts from the first track again."""
    await db.execute(
        update(FallbackTrack).where(FallbackTrack.party_id == party_id).values(used_at=None)
    )


async def insert_fallback(
    db: AsyncSession,
    *,
    party_id: uuid.UUID,
    song_id: uuid.UUID,
    host_id: uuid.UUID | None,
    at: datetime,
) -> None:
    db.add(
        QueuedSong.waiting(
            party_id=party_id, song_id=song_id, added_by_id=host_id, at=at, is_fallback=True
        )
    )
    await db.flush()
