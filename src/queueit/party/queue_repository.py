"""SQL for a party's queue, its songs and votes. The order songs play in is party/ordering.py
(DOMAIN.md "Play order"), and nowhere else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle, aliased

from queueit.catalog.models import Song
from queueit.core.types import utcnow
from queueit.party.models import Party, PartyRole, QueuedSong, SongStatus, Vote
from queueit.party.ordering import fair_play_order, fair_turns, play_order
from queueit.users.models import User

AddedBy = aliased(User, name="added_by")
# (queued song, song, adder) as plain column bundles, not ORM entities: building identity-mapped
# instances for a 100-song page cost more CPU than the rest of GET /sessions/current together
# (docs/BENCHMARKS.md). The adder's columns are all None when the account was deleted.
SongRow = Row[Any, Any, Any]
# A history row of the export: a SongRow, then started_at and finished_at.
HistoryRow = Row[Any, Any, Any, Any, Any]


_ROW: tuple[Bundle[Any], ...] = (
    Bundle(
        "queued",
        QueuedSong.id,
        QueuedSong.party_id,
        QueuedSong.status,
        QueuedSong.added_at,
        QueuedSong.votes,
        QueuedSong.last_entered_tier_at,
        QueuedSong.entered_tier_by_gain,
        QueuedSong.is_fallback,
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
        # In the same statement: whether the adder hosts the party (pages mark the host).
        (
            AddedBy.id
            == select(Party.host_id)
            .where(Party.id == QueuedSong.party_id)
            .correlate(QueuedSong)
            .scalar_subquery()
        ).label("is_host"),
        select(PartyRole.user_id)
        .where(PartyRole.party_id == QueuedSong.party_id, PartyRole.user_id == AddedBy.id)
        .correlate(QueuedSong, AddedBy)
        .exists()
        .label("is_co_host"),
    ),
)


def _rows_query() -> Any:
    return (
        select(*_ROW)
        .join(Song, Song.id == QueuedSong.song_id)
        .outerjoin(AddedBy, AddedBy.id == QueuedSong.added_by_id)
    )


def _fair_queue_page_query() -> Any:
    turns = fair_turns()
    page = (
        select(turns.c.id, turns.c.turn)
        .join(QueuedSong, QueuedSong.id == turns.c.id)
        .order_by(*fair_play_order(turns.c.turn))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    return (
        _rows_query().join(page, page.c.id == QueuedSong.id).order_by(*fair_play_order(page.c.turn))
    )


def _queue_page_query() -> Any:
    # The page is picked from queued_songs alone, then joined: joining first would join every
    # queued song before the sort (O(queue) joins for a 100-song page).
    page = (
        select(QueuedSong.id)
        .where(
            QueuedSong.party_id == bindparam("party_id"),
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
_FAIR_QUEUE_PAGE = _fair_queue_page_query()
_SONG_ROW = _rows_query().where(QueuedSong.id == bindparam("queued_song_id"))


async def queue_page(
    db: AsyncSession, party_id: uuid.UUID, *, limit: int, offset: int, fair: bool = False
) -> Sequence[SongRow]:
    """A page of the waiting songs in play order (`fair`: the fair-play order)."""
    params = {"party_id": party_id, "limit": limit, "offset": offset}
    return (await db.execute(_FAIR_QUEUE_PAGE if fair else _QUEUE_PAGE, params)).all()


async def queue_total(db: AsyncSession, party_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        QueuedSong.party_id == party_id, QueuedSong.status == SongStatus.queued
    )
    return int((await db.execute(query)).scalar_one())


async def history_page(
    db: AsyncSession, party_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[SongRow], int]:
    done = (SongStatus.played, SongStatus.skipped)
    query = (
        _rows_query()
        .where(QueuedSong.party_id == party_id, QueuedSong.status.in_(done))
        .order_by(QueuedSong.finished_at.desc(), QueuedSong.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await db.execute(query)).all()
    count = select(func.count()).where(QueuedSong.party_id == party_id, QueuedSong.status.in_(done))
    return rows, int((await db.execute(count)).scalar_one())


async def history_in_play_order(db: AsyncSession, party_id: uuid.UUID) -> Sequence[HistoryRow]:
    """The whole history in one statement, oldest first: exactly the reverse of
    `history_page` (the export). Each row also carries `started_at` and `finished_at`."""
    done = (SongStatus.played, SongStatus.skipped)
    query = (
        _rows_query()
        .add_columns(QueuedSong.started_at, QueuedSong.finished_at)
        .where(QueuedSong.party_id == party_id, QueuedSong.status.in_(done))
        .order_by(QueuedSong.finished_at.asc(), QueuedSong.id.asc())
    )
    return (await db.execute(query)).all()


async def song_row(db: AsyncSession, queued_song_id: uuid.UUID) -> SongRow | None:
    return (await db.execute(_SONG_ROW, {"queued_song_id": queued_song_id})).first()


async def lock_in_party(
    db: AsyncSession, queued_song_id: uuid.UUID, party_id: uuid.UUID
) -> QueuedSong | None:
    """The queued song, row-locked, only when it belongs to `party_id` (others look absent)."""
    query = (
        select(QueuedSong)
        .where(QueuedSong.id == queued_song_id, QueuedSong.party_id == party_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def find_queued(
    db: AsyncSession, party_id: uuid.UUID, source: str, provider_id: str
) -> QueuedSong | None:
    """The party's waiting entry of track (source, provider id), row-locked, if any."""
    query = (
        select(QueuedSong)
        .join(Song, Song.id == QueuedSong.song_id)
        .where(
            QueuedSong.party_id == party_id,
            Song.source == source,
            Song.provider_id == provider_id,
            QueuedSong.status == SongStatus.queued,
        )
    )
    return (await db.execute(query.with_for_update(of=QueuedSong))).scalar_one_or_none()


async def count_added_by(db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        QueuedSong.party_id == party_id,
        QueuedSong.added_by_id == user_id,
        QueuedSong.status == SongStatus.queued,
    )
    return int((await db.execute(query)).scalar_one())


async def insert_queued(
    db: AsyncSession, *, party_id: uuid.UUID, song_id: uuid.UUID, user_id: uuid.UUID
) -> QueuedSong:
    queued = QueuedSong.waiting(
        party_id=party_id, song_id=song_id, added_by_id=user_id, at=utcnow()
    )
    db.add(queued)
    await db.flush()
    return queued


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
        QueuedSong.party_id == bindparam("party_id"),
        QueuedSong.status == SongStatus.queued,
    )
)


async def my_votes(db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, int]:
    rows = (await db.execute(_MY_VOTES, {"user_id": user_id, "party_id": party_id})).all()
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


async def next_song(
    db: AsyncSession, party_id: uuid.UUID, *, fair: bool = False
) -> QueuedSong | None:
    """The first waiting song in play order (`fair`: the fair-play order), row-locked."""
    if fair:
        turns = fair_turns()
        query = (
            select(QueuedSong)
            .join(turns, turns.c.id == QueuedSong.id)
            .order_by(*fair_play_order(turns.c.turn))
            .limit(1)
            .with_for_update(of=QueuedSong)
        )
        found = await db.execute(query, {"party_id": party_id})
        return found.scalar_one_or_none()
    query = (
        select(QueuedSong)
        .where(QueuedSong.party_id == party_id, QueuedSong.status == SongStatus.queued)
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


# -- Sybil resistance: what the members of one client address did (docs/DOMAIN.md) ----------


async def count_added_from(db: AsyncSession, party_id: uuid.UUID, address: str) -> int:
    """Songs waiting in the party added by members who joined from `address`."""
    query = (
        select(func.count())
        .select_from(QueuedSong)
        .join(User, User.id == QueuedSong.added_by_id)
        .where(
            QueuedSong.party_id == party_id,
            QueuedSong.status == SongStatus.queued,
            User.current_party_id == party_id,
            User.join_address == address,
        )
    )
    return int((await db.execute(query)).scalar_one())


async def votes_from(
    db: AsyncSession, queued_song_id: uuid.UUID, address: str, *, besides: uuid.UUID
) -> int:
    """Votes on the song by other members who joined from `address`."""
    query = (
        select(func.count())
        .select_from(Vote)
        .join(User, User.id == Vote.user_id)
        .where(
            Vote.queued_song_id == queued_song_id,
            Vote.user_id != besides,
            User.join_address == address,
        )
    )
    return int((await db.execute(query)).scalar_one())


async def remove_added_by(
    db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID, at: datetime
) -> int:
    """Every song `user_id` has waiting in the party, removed; how many."""
    result = await db.execute(
        update(QueuedSong)
        .where(
            QueuedSong.party_id == party_id,
            QueuedSong.added_by_id == user_id,
            QueuedSong.status == SongStatus.queued,
        )
        .values(status=SongStatus.removed, finished_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
