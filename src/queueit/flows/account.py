"""Deleting an account: out of every party first, then the profile."""

from __future__ import annotations

from queueit.core.uow import UnitOfWork
from queueit.party import lifecycle
from queueit.users import service as users_service
from queueit.users.models import User


async def delete_account(uow: UnitOfWork, *, user: User) -> None:
    """Remove the user's votes, skip requests and profile in one transaction; end the parties
    they host. Songs they added stay in history, attributed to a deleted user."""
    await lifecycle.forget_member(uow, user=user)
    await users_service.remove(uow, user=user)
