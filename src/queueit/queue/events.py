"""Domain events the queue publishes (API.md §5); sent only after the commit."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from queueit.core.db import DomainEvent
from queueit.queue import repository
from queueit.queue.models import QueuedSong
from queueit.queue.schemas import QueuedSongOut
from queueit.queue.views import queued_song_out

EVENT_QUEUE_PAGE = 50


def votes_updated(session_id: uuid.UUID, version: int, song: QueuedSong) -> DomainEvent:
    return DomainEvent(
        session_id,
        "votes.updated",
        version,
        {
            "queued_song_id": str(song.id),
            "total_votes": song.votes,
            "entered_tier_by_gain": song.entered_tier_by_gain,
            "last_entered_tier_at": song.last_entered_tier_at.isoformat(),
        },
    )


async def queue_updated(db: AsyncSession, session_id: uuid.UUID, version: int) -> DomainEvent:
    rows = await repository.queue_page(db, session_id, limit=EVENT_QUEUE_PAGE, offset=0)
    total = await repository.queue_total(db, session_id)
    return DomainEvent(
        session_id,
        "queue.updated",
        version,
        {
            "queue": [queued_song_out(row).model_dump(mode="json") for row in rows],
            "queue_total": total,
        },
    )


def now_playing_updated(
    session_id: uuid.UUID, version: int, current: QueuedSongOut | None, *, crowdsourced: bool
) -> DomainEvent:
    return DomainEvent(
        session_id,
        "now_playing.updated",
        version,
        {
            "current_song": current.model_dump(mode="json") if current else None,
            "last_skip_was_crowdsourced": crowdsourced,
        },
    )
