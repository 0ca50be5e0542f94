"""SQL for the queue. The one ordering rule (DOMAIN.md) lives here and nowhere else."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, delete, false, func, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle, aliased

from queueit.catalog.models import Song
from queueit.catalog.schemas import Track
from queueit.core.db import utcnow
from queueit.queue.models import QueuedSong, SongStatus, Vote
from queueit.users.models import User

AddedBy = aliased(User, name="added_by")
# (queued song, song, adder) as plain column bundles, not ORM entities: building identity-mapped
# instances for a 100-song page cost more CPU than the rest of GET /sessions/current together
# (docs/BENCHMARKS.md). The adder's columns are all None when the account was deleted.
SongRow = Row[Any, Any, Any]


@functools.cache
def play_order() -> tuple[Any, ...]:
    """Vote total desc; within a total, songs that fell into it first (most recent fall
    first), then songs that rose into it or were added (oldest first); then added_at, id.
    Built once: the expressions are immutable and constructing them costs CPU per request."""
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
    """The catalog row for a track (source + provider id). The first stored metadata is kept:
    the songs table is shared by every party, so one guest's request must not rename a track
    that other parties have queued."""
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
        _insert(db)(Song)
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


_ROW: tuple[Bundle[Any], ...] = (
    Bundle(
        "queued",
        QueuedSong.id,
        QueuedSong.session_id,
        QueuedSong.status,
        QueuedSong.added_at,
        QueuedSong.votes,
        QueuedSong.last_entered_tier_at,
        QueuedSong.entered_tier_by_gain,
    ),
    Bundle(
        "song",
        Song.provider_id,
        Song.isrc,
        Song.name,
        Song.artists,
        Song.album,
        Song.duration_ms,
        Song.image_url,
        Song.source,
        Song.explicit,
    ),
    Bundle(
        "added_by",
        AddedBy.id,
        AddedBy.username,
        AddedBy.display_name,
        AddedBy.music_provider,
        AddedBy.storefront,
        AddedBy.is_anonymous,
    ),
)


def _rows_query() -> Any:
    return (
        select(*_ROW)
        .join(Song, Song.id == QueuedSong.song_id)
        .outerjoin(AddedBy, AddedBy.id == QueuedSong.added_by_id)
    )


def _queue_page_query() -> Any:
    # The page is picked from queued_songs alone, then joined: joining first would join every
    # queued song before the sort (O(queue) joins for a 100-song page).
    page = (
        select(QueuedSong.id)
        .where(
            QueuedSong.session_id == bindparam("session_id"),
            QueuedSong.status == SongStatus.queued,
        )
        .order_by(*play_order())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery()
    )
    return _rows_query().join(page, page.c.id == QueuedSong.id).order_by(*play_order())


# The hot read statements are built once, with bind parameters (docs/BENCHMARKS.md).
_QUEUE_PAGE = _queue_page_query()
_SONG_ROW = _rows_query().where(QueuedSong.id == bindparam("queued_song_id"))


async def queue_page(
    db: AsyncSession, session_id: uuid.UUID, *, limit: int, offset: int
) -> Sequence[SongRow]:
    params = {"session_id": session_id, "limit": limit, "offset": offset}
    return (await db.execute(_QUEUE_PAGE, params)).all()


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
    return (await db.execute(_SONG_ROW, {"queued_song_id": queued_song_id})).first()


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


_MY_VOTES = (
    select(Vote.queued_song_id, Vote.value)
    .join(QueuedSong, QueuedSong.id == Vote.queued_song_id)
    .where(
        Vote.user_id == bindparam("user_id"),
        QueuedSong.session_id == bindparam("session_id"),
        QueuedSong.status == SongStatus.queued,
    )
)


async def my_votes(db: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, int]:
    rows = (await db.execute(_MY_VOTES, {"user_id": user_id, "session_id": session_id})).all()
    return {str(song_id): int(value) for song_id, value in rows}


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
