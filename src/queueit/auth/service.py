"""Local-mode token minting: guests over HTTP, named users from the command line."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from queueit.core.db import UnitOfWork
from queueit.core.security import mint_local_token
from queueit.users import repository as users_repository
from queueit.users.models import MusicProvider, User


async def sign_in_anonymous(
    uow: UnitOfWork, *, secret: str, ttl_seconds: int, display_name: str | None
) -> tuple[str, User]:
    user_id = uuid.uuid4()
    await uow.act_as(user_id, is_anonymous=True)
    await users_repository.insert_if_absent(
        uow.session, user_id=user_id, is_anonymous=True, display_name=display_name
    )
    user = await users_repository.get(uow.session, user_id)
    assert user is not None
    token = mint_local_token(secret, sub=user_id, is_anonymous=True, ttl_seconds=ttl_seconds)
    return token, user


async def token_for_username(
    uow: UnitOfWork, *, secret: str, ttl_seconds: int, username: str, provider: MusicProvider
) -> str:
    """A token for the named (non-anonymous) user, creating the user when new. A new user gets
    `provider` so they can host at once."""
    db = uow.session
    found = await db.execute(select(User).where(func.lower(User.username) == username.lower()))
    user = found.scalar_one_or_none()
    if user is None:
        user = User(
            id=uuid.uuid4(),
            username=username,
            is_anonymous=False,
            music_provider=provider,
            storefront="us",
        )
        db.add(user)
        await db.flush()
    return mint_local_token(secret, sub=user.id, is_anonymous=False, ttl_seconds=ttl_seconds)
