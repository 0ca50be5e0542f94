"""Domain events the sessions domain publishes (API.md §5)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from queueit.core.db import DomainEvent, utcnow
from queueit.sessions import repository
from queueit.sessions.models import Session


async def session_updated(
    db: AsyncSession, session: Session, *, presence_ttl_seconds: float
) -> DomainEvent:
    cutoff = utcnow() - timedelta(seconds=presence_ttl_seconds)
    participants = await repository.participant_count(db, session, cutoff=cutoff)
    skip_count, _ = await repository.skip_state(db, session, session.id)
    return DomainEvent(
        session.id,
        "session.updated",
        session.version,
        {
            "is_locked": session.is_locked,
            "is_paused": session.is_paused,
            "participant_count": participants,
            "skip_request_count": skip_count,
        },
    )


def session_ended(session: Session) -> DomainEvent:
    return DomainEvent(
        session.id, "session.ended", session.version, {"reason": session.end_reason or "ended"}
    )


# Events consumed by the realtime hubs and never forwarded to clients.
INTERNAL_EVENTS = frozenset({"member.left"})


def member_left(session: Session, user_id: uuid.UUID) -> DomainEvent:
    return DomainEvent(session.id, "member.left", session.version, {"user_id": str(user_id)})
