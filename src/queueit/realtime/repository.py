"""SQL for realtime: presence of connected users and the state of sessions with sockets."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.sessions.models import Session
from queueit.users.models import User

# Keeps every IN (...) list well under SQLite's and asyncpg's bind-parameter limits.
CHUNK = 1000


@dataclass(frozen=True, slots=True)
class SessionState:
    version: int
    ended: bool


def _chunks(ids: Collection[uuid.UUID]) -> list[list[uuid.UUID]]:
    ordered = sorted(ids)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


async def session_states(
    db: AsyncSession, session_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, SessionState]:
    """Version and ended flag of each existing session (unknown ids are absent)."""
    states: dict[uuid.UUID, SessionState] = {}
    for chunk in _chunks(session_ids):
        query = select(Session.id, Session.version, Session.ended_at).where(Session.id.in_(chunk))
        for session_id, version, ended_at in await db.execute(query):
            states[session_id] = SessionState(version=version, ended=ended_at is not None)
    return states


async def touch_presence(
    db: AsyncSession,
    *,
    user_ids: Collection[uuid.UUID],
    session_ids: Collection[uuid.UUID],
    at: datetime,
) -> None:
    """Open sockets count as activity: one UPDATE for the users, one for their sessions (so
    idle expiry never ends a party that has listeners)."""
    for chunk in _chunks(user_ids):
        await db.execute(
            update(User)
            .where(User.id.in_(chunk), User.last_active_at < at)
            .values(last_active_at=at)
            .execution_options(synchronize_session=False)
        )
    for chunk in _chunks(session_ids):
        await db.execute(
            update(Session)
            .where(
                Session.id.in_(chunk),
                Session.ended_at.is_(None),
                Session.last_activity_at < at,
            )
            .values(last_activity_at=at)
            .execution_options(synchronize_session=False)
        )
