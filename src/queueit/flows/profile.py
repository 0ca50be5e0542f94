"""Editing a profile (users + party): a member may not rename themselves after their host."""

from __future__ import annotations

from queueit.core.uow import UnitOfWork
from queueit.party import names
from queueit.users import service as users_service
from queueit.users.models import User
from queueit.users.schemas import UserUpdate


async def update_profile(uow: UnitOfWork, *, user: User, changes: UserUpdate) -> User:
    """The users domain's rules (guests take no usernames, names are unique), after the
    party's: a member's new username or display name must not pass for their host's name
    (409 `name_imitates_host`)."""
    if changes.username is not None and not user.is_anonymous:
        await names.refuse_rename_after_host(uow, actor=user, name=changes.username)
    if changes.display_name is not None:
        await names.refuse_rename_after_host(uow, actor=user, name=changes.display_name)
    return await users_service.update_profile(uow, user=user, changes=changes)
