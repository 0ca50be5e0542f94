"""Who is present: members active within PRESENCE_TTL_SECONDS (any API call, or an open
socket, refreshes a member's activity); the host always counts."""

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


async def touch(
    uow: UnitOfWork,
    *,
    user_ids: Collection[uuid.UUID],
    party_ids: Collection[uuid.UUID],
    at: datetime,
) -> None:
    """Open sockets are activity: their users are present, their parties are not idle."""
    await repository.touch_presence(uow.session, user_ids=user_ids, party_ids=party_ids, at=at)
