"""Domain events: a committed change that other members must hear about, as the domains
publish it and as the realtime transport carries it (API.md §5). The transport knows events
only by these names; what their data means is the publishing domain's business."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EventName(StrEnum):
    VOTES_UPDATED = "votes.updated"
    QUEUE_UPDATED = "queue.updated"
    NOW_PLAYING_UPDATED = "now_playing.updated"
    SESSION_UPDATED = "session.updated"
    SESSION_ENDED = "session.ended"
    ROLES_UPDATED = "roles.updated"
    # Internal: never sent to a client. The transport closes the sockets of `data.user_id`
    # on that party, on every instance: 4403 when they left, 4410 when the host or a co-host
    # removed them (`data.removed`: "kicked" or "banned").
    MEMBER_LEFT = "member.left"

    @property
    def internal(self) -> bool:
        """An instruction to the transport, not a message for clients."""
        return self is EventName.MEMBER_LEFT

    @property
    def ends_party(self) -> bool:
        """After this event the party's sockets are closed (4404)."""
        return self is EventName.SESSION_ENDED


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Sent only after its transaction commits. `version` is the party's version after the
    change (every event of one change carries the same one)."""

    party_id: uuid.UUID
    name: EventName
    version: int
    data: dict[str, Any]


Publisher = Callable[[list[DomainEvent]], Awaitable[None]]


async def discard(_events: list[DomainEvent]) -> None:
    """The publisher of a unit of work nobody listens to (the CLI, migrations)."""
    return None
