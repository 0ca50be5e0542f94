"""SQL for the queue. The one ordering rule (DOMAIN.md) lives here and nowhere else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, case, delete, false, func, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from queueit.catalog.models import Song
from queueit.catalog.schemas import Track
from queueit.core.db import utcnow
from queueit.queue.models import QueuedSong, SongStatus, Vote
from queueit.users.models import User

AddedBy = aliased(User, name="added_by")
SongRow = Row[QueuedSong, Song, User | None]


def play_order() -> tuple[Any, ...]:
    """Vote total desc; within a total, songs that fell into it first (most recent fall
    first), then songs that rose into it or were added (oldest first); then added_at, id."""
    loser_at = case((QueuedSong.entered_tier_by_gain == false(), QueuedSong.last_entered_tier_at))
    gainer_at = case((QueuedSong.entered_tier_by_gain == true(), QueuedSong.last_entered_tier_at))
    return (
        QueuedSong.votes.desc(),
        QueuedSong.entered_tier_by_gain.asc(),
        loser_at.desc(),
        gainer_at.asc(),
        QueuedSong.added_at.asc(),
        QueuedSong.id.asc(),
    )


def _insert(db: AsyncSession) -> Any:
    return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert


async def upsert_song(db: AsyncSession, track: Track) -> uuid.UUID:
    """The catalog row for a track (source + provider id), refreshed with the latest metadata."""
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
    statement = _insert(db)(Song).values(id=uuid.uuid4(), created_at=utcnow(), **values)
    statement = statement.on_conflict_do_update(
        index_elements=["source", "provider_id"], set_=values
    ).returning(Song.id)
    song_id: uuid.UUID = (await db.execute(statement)).scalar_one()
    return song_id


_ROW = (QueuedSong, Song, AddedBy)


def _rows_query() -> Any:
    return (
        select(*_ROW)
        .join(Song, Song.id == QueuedSong.song_id)
        .outerjoin(AddedBy, AddedBy.id == QueuedSong.added_by_id)
        .execution_options(populate_existing=True)
    )


async def queue_page(
    db: AsyncSession, session_id: uuid.UUID, *, limit: int, offset: int
) -> Sequence[SongRow]:
    query = (
        _rows_query()
        .where(QueuedSong.session_id == session_id, QueuedSong.status == SongStatus.queued)
        .order_by(*play_order())
        .limit(limit)
        .offset(offset)
    )
    return (await db.execute(query)).all()


async def queue_total(db: AsyncSession, session_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        QueuedSong.session_id == session_id, QueuedSong.status == SongStatus.queued
    )
    return int((await db.execute(query)).scalar_one())


async def history_page(
    db: AsyncSession, session_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[SongRow], int]:
    done = (SongStatus.played, SongStatus.skipped)
    query = (
        _rows_query()
        .where(QueuedSong.session_id == session_id, QueuedSong.status.in_(done))
        .order_by(QueuedSong.finished_at.desc(), QueuedSong.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await db.execute(query)).all()
    count = select(func.count()).where(
        QueuedSong.session_id == session_id, QueuedSong.status.in_(done)
    )
    return rows, int((await db.execute(count)).scalar_one())


async def song_row(db: AsyncSession, queued_song_id: uuid.UUID) -> SongRow | None:
    query = _rows_query().where(QueuedSong.id == queued_song_id)
    return (await db.execute(query)).first()


async def lock_in_session(
    db: AsyncSession, queued_song_id: uuid.UUID, session_id: uuid.UUID
) -> QueuedSong | None:
    """The queued song, row-locked, only when it belongs to `session_id` (others look absent)."""
    query = (
        select(QueuedSong)
        .where(QueuedSong.id == queued_song_id, QueuedSong.session_id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def find_queued(
    db: AsyncSession, session_id: uuid.UUID, song_id: uuid.UUID
) -> QueuedSong | None:
    query = select(QueuedSong).where(
        QueuedSong.session_id == session_id,
        QueuedSong.song_id == song_id,
        QueuedSong.status == SongStatus.queued,
    )
    return (await db.execute(query.with_for_update())).scalar_one_or_none()


async def count_added_by(db: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        QueuedSong.session_id == session_id,
        QueuedSong.added_by_id == user_id,
        QueuedSong.status == SongStatus.queued,
    )
    return int((await db.execute(query)).scalar_one())


async def insert_queued(
    db: AsyncSession, *, session_id: uuid.UUID, song_id: uuid.UUID, user_id: uuid.UUID
) -> QueuedSong:
    now = utcnow()
    queued = QueuedSong(
        id=uuid.uuid4(),
        session_id=session_id,
        song_id=song_id,
        added_by_id=user_id,
        status=SongStatus.queued,
        votes=0,
        entered_tier_by_gain=True,
        last_entered_tier_at=now,
        added_at=now,
    )
    db.add(queued)
    await db.flush()
    return queued


async def get_vote(db: AsyncSession, queued_song_id: uuid.UUID, user_id: uuid.UUID) -> int | None:
    query = select(Vote.value).where(Vote.queued_song_id == queued_song_id, Vote.user_id == user_id)
    value = (await db.execute(query)).scalar_one_or_none()
    return int(value) if value is not None else None


async def put_vote(
    db: AsyncSession, queued_song_id: uuid.UUID, user_id: uuid.UUID, value: int
) -> None:
    now = utcnow()
    statement = _insert(db)(Vote).values(
        queued_song_id=queued_song_id, user_id=user_id, value=value, created_at=now, updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["queued_song_id", "user_id"], set_={"value": value, "updated_at": now}
    )
    await db.execute(statement)


async def delete_vote(db: AsyncSession, queued_song_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await db.execute(
        delete(Vote).where(Vote.queued_song_id == queued_song_id, Vote.user_id == user_id)
    )


async def has_votes_from_others(
    db: AsyncSession, queued_song_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    query = (
        select(Vote.user_id)
        .where(Vote.queued_song_id == queued_song_id, Vote.user_id != user_id)
        .limit(1)
    )
    return (await db.execute(query)).first() is not None


async def my_votes(db: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, int]:
    query = (
        select(Vote.queued_song_id, Vote.value)
        .join(QueuedSong, QueuedSong.id == Vote.queued_song_id)
        .where(
            Vote.user_id == user_id,
            QueuedSong.session_id == session_id,
            QueuedSong.status == SongStatus.queued,
        )
    )
    return {str(song_id): int(value) for song_id, value in (await db.execute(query)).all()}


async def user_votes_in_queue(
    db: AsyncSession, user_id: uuid.UUID
) -> Sequence[Row[uuid.UUID, int]]:
    """The user's votes on songs still queued anywhere (to withdraw them on account deletion)."""
    query = (
        select(Vote.queued_song_id, Vote.value)
        .join(QueuedSong, QueuedSong.id == Vote.queued_song_id)
        .where(Vote.user_id == user_id, QueuedSong.status == SongStatus.queued)
    )
    return (await db.execute(query)).all()


async def next_song(db: AsyncSession, session_id: uuid.UUID) -> QueuedSong | None:
    query = (
        select(QueuedSong)
        .where(QueuedSong.session_id == session_id, QueuedSong.status == SongStatus.queued)
        .order_by(*play_order())
        .limit(1)
        .with_for_update()
    )
    return (await db.execute(query)).scalar_one_or_none()


async def finish(
    db: AsyncSession, queued_song_id: uuid.UUID, status: SongStatus, at: datetime
) -> None:
    await db.execute(
        update(QueuedSong)
        .where(QueuedSong.id == queued_song_id, QueuedSong.status == SongStatus.playing)
        .values(status=status, finished_at=at)
    )


async def start(db: AsyncSession, queued_song_id: uuid.UUID, at: datetime) -> None:
    await db.execute(
        update(QueuedSong)
        .where(QueuedSong.id == queued_song_id, QueuedSong.status == SongStatus.queued)
        .values(status=SongStatus.playing, started_at=at)
    )


async def remove(db: AsyncSession, queued_song_id: uuid.UUID, at: datetime) -> None:
    await db.execute(
        update(QueuedSong)
        .where(and_(QueuedSong.id == queued_song_id, QueuedSong.status == SongStatus.queued))
        .values(status=SongStatus.removed, finished_at=at)
    )
