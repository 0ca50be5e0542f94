"""User rules: provisioning from verified tokens, profile edits, account deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import IntegrityError

from queueit.core import errors
from queueit.core.db import UnitOfWork
from queueit.core.security import Claims
from queueit.sessions import service as sessions_service
from queueit.users import repository
from queueit.users.models import User
from queueit.users.schemas import UserUpdate

log = structlog.get_logger(__name__)
PRESENCE_WRITE_INTERVAL = timedelta(seconds=10)


class UsernameTaken(errors.Conflict):
    code, detail = "username_taken", "That username is taken; pick another."


async def current_user(uow: UnitOfWork, *, claims: Claims) -> User:
    """The caller's profile, provisioned on first sight (`id = sub`). Claims never overwrite
    the profile later, except a guest upgrading to a full account."""
    await uow.act_as(claims.sub, is_anonymous=claims.is_anonymous)
    db = uow.session
    user = await repository.get(db, claims.sub)
    if user is None:
        deleted_at = await repository.deleted_at(db, claims.sub)
        if deleted_at is not None and claims.issued_at <= deleted_at.timestamp():
            raise errors.AccountDeleted()
        await repository.insert_if_absent(db, user_id=claims.sub, is_anonymous=claims.is_anonymous)
        user = await repository.get(db, claims.sub)
        if user is None:  # deleted between insert and read: treat like a deleted account
            raise errors.AccountDeleted()
        log.info("user_provisioned", user_id=str(user.id), is_anonymous=user.is_anonymous)
    elif user.is_anonymous and not claims.is_anonymous:
        user.is_anonymous = False
        log.info("user_upgraded", user_id=str(user.id))
    if datetime.now(UTC) - user.last_active_at > PRESENCE_WRITE_INTERVAL:
        await repository.touch(db, user.id, min_interval=PRESENCE_WRITE_INTERVAL)
    uow.actor_id = user.id
    return user


async def update_profile(uow: UnitOfWork, *, user: User, changes: UserUpdate) -> User:
    if changes.username is not None and changes.username != user.username:
        if await repository.username_taken(uow.session, changes.username, except_id=user.id):
            raise UsernameTaken()
        user.username = changes.username
    if changes.music_provider is not None:
        user.music_provider = changes.music_provider
    if changes.storefront is not None:
        user.storefront = changes.storefront
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # the unique index settles a race between two renames
        raise UsernameTaken() from exc
    return user


async def delete_account(uow: UnitOfWork, *, user: User) -> None:
    """Remove the user's votes, skip requests and profile in one transaction; end the sessions
    they host. Songs they added stay in history, attributed to a deleted user."""
    await sessions_service.forget_user(uow, user=user)
    await repository.record_deletion(uow.session, user.id)
    await repository.delete_user(uow.session, user.id)
    log.info("user_deleted", user_id=str(user.id))
