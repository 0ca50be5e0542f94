"""Local-mode token minting: guests over HTTP, named users from the command line."""

from __future__ import annotations

import uuid

from queueit.core.security import mint_local_token
from queueit.core.uow import UnitOfWork
from queueit.users import service as users_service
from queueit.users.models import MusicProvider, User


async def sign_in_anonymous(
    uow: UnitOfWork, *, secret: str, ttl_seconds: int, display_name: str | None
) -> tuple[str, User]:
    user_id = uuid.uuid4()
    await uow.act_as(user_id, is_anonymous=True)
    user = await users_service.provision_guest(uow, user_id=user_id, display_name=display_name)
    token = mint_local_token(secret, sub=user_id, is_anonymous=True, ttl_seconds=ttl_seconds)
    return token, user


async def token_for_username(
    uow: UnitOfWork, *, secret: str, ttl_seconds: int, username: str, provider: MusicProvider
) -> str:
    """A token for the named (non-anonymous) user, creating the user when new. A new user gets
    `provider` so they can host at once."""
    user = await users_service.named_user(uow, username=username, provider=provider)
    return mint_local_token(secret, sub=user.id, is_anonymous=False, ttl_seconds=ttl_seconds)
