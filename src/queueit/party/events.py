"""The events a party publishes (API.md §5). Each carries the party's version after the
change; they are sent only after the change's transaction commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from queueit.core.events import DomainEvent, EventName
from queueit.core.uow import UnitOfWork
from queueit.party import presence, queue_repository, repository, rules
from queueit.party.models import Party
from queueit.party.schemas import QueuedSongOut
from queueit.party.shapes import queued_song_out
from queueit.party.vote_repository import Tally

EVENT_QUEUE_PAGE = 50


def votes_updated(party_id: uuid.UUID, version: int, tally: Tally) -> DomainEvent:
    """A song's votes changed: its total and tier metadata, as the vote's update returned
    them (nothing is read again)."""
    return DomainEvent(
        party_id,
        EventName.VOTES_UPDATED,
        version,
        {
            "queued_song_id": str(tally.queued_song_id),
            "total_votes": tally.total_votes,
            "entered_tier_by_gain": tally.entered_tier_by_gain,
            "last_entered_tier_at": tally.last_entered_tier_at.isoformat(),
            "is_fallback": tally.is_fallback,
        },
    )


async def queue_updated(
    db: AsyncSession,
    party_id: uuid.UUID,
    version: int,
    *,
    removed: list[dict[str, str]] | None = None,
) -> DomainEvent:
    """`removed` (additive, only when given): the songs that left the queue and why, e.g.
    `{"queued_song_id": ..., "reason": "auto_removed"}`, so pages can say what happened."""
    party = await db.get(Party, party_id)  # locked by the change: no statement
    fair = party is not None and rules.fair_play(party)
    rows = await queue_repository.queue_page(
        db, party_id, limit=EVENT_QUEUE_PAGE, offset=0, fair=fair
    )
    total = await queue_repository.queue_total(db, party_id)
    data: dict[str, Any] = {
        "queue": [queued_song_out(row).model_dump(mode="json") for row in rows],
        "queue_total": total,
    }
    if removed:
        data["removed"] = removed
    return DomainEvent(party_id, EventName.QUEUE_UPDATED, version, data)


def now_playing_updated(
    party_id: uuid.UUID, version: int, current: QueuedSongOut | None, *, crowdsourced: bool
) -> DomainEvent:
    return DomainEvent(
        party_id,
        EventName.NOW_PLAYING_UPDATED,
        version,
        {
            "current_song": current.model_dump(mode="json") if current else None,
            "last_skip_was_crowdsourced": crowdsourced,
        },
    )


async def party_updated(uow: UnitOfWork, party: Party) -> DomainEvent:
    """`session.updated`: the flags and the counts of people (participants, skip requests)."""
    crowd = presence.crowd(uow)
    participants = await repository.participant_count(uow.session, party, crowd)
    skip_count = await repository.counted_skips(uow.session, party, crowd)
    return DomainEvent(
        party.id,
        EventName.SESSION_UPDATED,
        party.version,
        {
            "is_locked": party.is_locked,
            "is_paused": party.is_paused,
            "participant_count": participants,
            "skip_request_count": skip_count,
            "settings": rules.settings_of(party.settings).model_dump(mode="json"),
        },
    )


def party_ended(party: Party) -> DomainEvent:
    return DomainEvent(
        party.id, EventName.SESSION_ENDED, party.version, {"reason": party.end_reason or "ended"}
    )


def member_left(party: Party, user_id: uuid.UUID, *, removed: str | None = None) -> DomainEvent:
    """Internal: every instance's transport closes this user's sockets for the party (4403;
    4410 when `removed`, "kicked" or "banned")."""
    data = {"user_id": str(user_id)}
    if removed is not None:
        data["removed"] = removed
    return DomainEvent(party.id, EventName.MEMBER_LEFT, party.version, data)


def roles_updated(party: Party, co_host_ids: set[uuid.UUID]) -> DomainEvent:
    """`roles.updated`: who hosts the party and who co-hosts it, after a change of roles."""
    return DomainEvent(
        party.id,
        EventName.ROLES_UPDATED,
        party.version,
        {
            "host_id": str(party.host_id) if party.host_id else None,
            "co_host_ids": sorted(str(user_id) for user_id in co_host_ids),
        },
    )
