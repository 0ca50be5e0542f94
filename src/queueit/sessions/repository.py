"""SQL for sessions, membership, presence and skip requests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.core.db import UTCDateTime, utcnow
from queueit.queue.models import QueuedSong, SongStatus
from queueit.sessions.models import Session, SkipRequest
from queueit.users.models import User


async def get(db: AsyncSession, session_id: uuid.UUID) -> Session | None:
    return await db.get(Session, session_id)


async def lock(db: AsyncSession, session_id: uuid.UUID) -> Session | None:
    """The session row, locked for the rest of the transaction (every state change starts
    here, so changes to one session are serialised and lock order is always session first)."""
    query = (
        select(Session)
        .where(Session.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def active_by_code(db: AsyncSession, join_code: str) -> Session | None:
    query = select(Session).where(Session.join_code == join_code, Session.ended_at.is_(None))
    return (await db.execute(query)).scalar_one_or_none()


async def with_host(db: AsyncSession, session_id: uuid.UUID) -> tuple[Session, User | None] | None:
    query = (
        select(Session, User)
        .outerjoin(User, User.id == Session.host_id)
        .where(Session.id == session_id)
    )
    row = (await db.execute(query)).first()
    return (row[0], row[1]) if row else None


async def insert(db: AsyncSession, session: Session) -> None:
    """Insert inside a savepoint so a join-code collision can be retried or reported."""
    async with db.begin_nested():
        db.add(session)
        await db.flush()


async def bump_version(session: Session, db: AsyncSession) -> int:
    session.version += 1
    session.last_activity_at = utcnow()
    await db.flush()
    return session.version


async def participant_count(db: AsyncSession, session: Session, *, cutoff: datetime) -> int:
    """Members active since `cutoff` (API calls and open sockets refresh activity), plus the
    host, who always counts; at least 1."""
    query = select(func.count()).where(
        User.current_session_id == session.id, User.last_active_at >= cutoff
    )
    if session.host_id is not None:
        query = query.where(User.id != session.host_id)
    members = int((await db.execute(query)).scalar_one())
    return members + 1


@dataclass(frozen=True, slots=True)
class Counts:
    queue_total: int
    participant_count: int
    skip_request_count: int
    user_requested_skip: bool


def _counts_query(*, has_host: bool) -> Any:
    queued = select(func.count()).where(
        QueuedSong.session_id == bindparam("session_id"), QueuedSong.status == SongStatus.queued
    )
    members = select(func.count()).where(
        User.current_session_id == bindparam("session_id"),
        User.last_active_at >= bindparam("cutoff", type_=UTCDateTime()),
    )
    if has_host:
        members = members.where(User.id != bindparam("host_id"))
    skips = select(func.count()).where(SkipRequest.queued_song_id == bindparam("current_song_id"))
    mine = skips.where(SkipRequest.user_id == bindparam("user_id"))
    return select(
        queued.scalar_subquery(),
        members.scalar_subquery(),
        skips.scalar_subquery(),
        mine.scalar_subquery(),
    )


# Built once (constructing statements costs CPU per request): with and without a host.
_COUNTS = {True: _counts_query(has_host=True), False: _counts_query(has_host=False)}


async def counts(
    db: AsyncSession, session: Session, user_id: uuid.UUID, *, cutoff: datetime
) -> Counts:
    """What `queue_total`, `participant_count` and `skip_state` answer, in one statement
    (GET /sessions/current is dominated by round trips to the database)."""
    params = {
        "session_id": session.id,
        "cutoff": cutoff,
        "host_id": session.host_id,
        "current_song_id": session.current_song_id,
        "user_id": user_id,
    }
    row = (await db.execute(_COUNTS[session.host_id is not None], params)).one()
    with_skips = session.current_song_id is not None
    return Counts(
        queue_total=int(row[0]),
        participant_count=int(row[1]) + 1,  # the host always counts
        skip_request_count=int(row[2]) if with_skips else 0,
        user_requested_skip=bool(row[3]) if with_skips else False,
    )


async def skip_state(db: AsyncSession, session: Session, user_id: uuid.UUID) -> tuple[int, bool]:
    """(requests for the current song, whether `user_id` made one)."""
    if session.current_song_id is None:
        return 0, False
    query = select(SkipRequest.user_id).where(SkipRequest.queued_song_id == session.current_song_id)
    users = list((await db.execute(query)).scalars())
    return len(users), user_id in users


async def add_skip_request(db: AsyncSession, *, session: Session, user_id: uuid.UUID) -> None:
    assert session.current_song_id is not None
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(SkipRequest)
        .values(
            queued_song_id=session.current_song_id,
            user_id=user_id,
            session_id=session.id,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["queued_song_id", "user_id"])
    )
    await db.execute(statement)


async def withdraw_skip_request(
    db: AsyncSession, *, session_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    result = await db.execute(
        delete(SkipRequest).where(
            SkipRequest.session_id == session_id, SkipRequest.user_id == user_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def clear_skip_requests(db: AsyncSession, session_id: uuid.UUID) -> None:
    await db.execute(delete(SkipRequest).where(SkipRequest.session_id == session_id))


async def set_membership(db: AsyncSession, user: User, session_id: uuid.UUID | None) -> None:
    if user.current_session_id is not None and user.current_session_id != session_id:
        user.previous_session_id = user.current_session_id
    user.current_session_id = session_id
    user.last_active_at = utcnow()
    await db.flush()


async def hosted_active(db: AsyncSession, user_id: uuid.UUID) -> Sequence[uuid.UUID]:
    query = select(Session.id).where(Session.host_id == user_id, Session.ended_at.is_(None))
    return list((await db.execute(query)).scalars())


async def release_members(db: AsyncSession, session_id: uuid.UUID) -> None:
    await db.execute(
        update(User)
        .where(User.current_session_id == session_id)
        .values(current_session_id=None, previous_session_id=session_id)
    )


async def idle_sessions(
    db: AsyncSession, *, cutoff: datetime, limit: int = 100
) -> Sequence[uuid.UUID]:
    query = (
        select(Session.id)
        .where(Session.ended_at.is_(None), Session.last_activity_at < cutoff)
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())


async def touch_activity(db: AsyncSession, session_id: uuid.UUID, *, at: datetime) -> None:
    await db.execute(
        update(Session)
        .where(Session.id == session_id, Session.ended_at.is_(None), Session.last_activity_at < at)
        .values(last_activity_at=at)
    )
