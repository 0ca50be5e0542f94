"""Who is present: members active within PRESENCE_TTL_SECONDS (any API call, or an open
socket, refreshes a member's activity); the host always counts. Who counts for crowd skip:
present members in the party for ESTABLISHED_MEMBER_SECONDS, at most
MEMBERS_COUNTED_PER_ADDRESS of one client address (docs/DOMAIN.md "Crowds and addresses")."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import repository


def cutoff(uow: UnitOfWork) -> datetime:
    """Members last active before this moment are not present."""
    return utcnow() - timedelta(seconds=uow.settings.presence_ttl_seconds)


def crowd(uow: UnitOfWork) -> repository.Crowd:
    """The rule crowd skip and participant counts apply now."""
    settings = uow.settings
    now = utcnow()
    return repository.Crowd(
        cutoff=now - timedelta(seconds=settings.presence_ttl_seconds),
        established=now - timedelta(seconds=settings.established_member_seconds),
        per_address=settings.members_counted_per_address,
    )


async def touch(
    uow: UnitOfWork,
    *,
    user_ids: Collection[uuid.UUID],
    party_ids: Collection[uuid.UUID],
    at: datetime,
) -> None:
    """Open sockets are activity: their users are present, their parties are not idle."""
    await repository.touch_presence(uow.session, user_ids=user_ids, party_ids=party_ids, at=at)
