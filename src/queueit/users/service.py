"""User rules: provisioning from verified tokens, profile edits, removing a profile."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import IntegrityError

from queueit.core import errors
from queueit.core.security import Claims
from queueit.core.uow import UnitOfWork
from queueit.users import repository
from queueit.users.models import MusicProvider, User
from queueit.users.schemas import UserUpdate

log = structlog.get_logger(__name__)
PRESENCE_WRITE_INTERVAL = timedelta(seconds=10)


class UsernameTaken(errors.Conflict):
    code, detail = "username_taken", "That username is taken; pick another."


class GuestCannotTakeUsername(errors.Forbidden):
    code = "username_needs_account"
    detail = "Guests cannot pick a username; sign in with a full account first."


class UsernameBelongsToGuest(errors.Conflict):
    code = "username_belongs_to_guest"
    detail = (
        "That username belongs to a guest (anonymous) account, which the command line never "
        "turns into a full account; pick another name."
    )


class GuestUpgradeUnavailable(errors.Unauthorized):
    code = "guest_upgrade_unavailable"
    detail = "A guest becomes a full account only by signing up through Supabase."


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
        # Supabase's own upgrade (same `sub`, a new full-account token) is the only path; a
        # local full-account token for a guest row can only be a forgery or an old CLI bug.
        if claims.local:
            raise GuestUpgradeUnavailable()
        user.is_anonymous = False
        log.info("user_upgraded", user_id=str(user.id))
    if datetime.now(UTC) - user.last_active_at > PRESENCE_WRITE_INTERVAL:
        await repository.touch(db, user.id, min_interval=PRESENCE_WRITE_INTERVAL)
    return user


async def provision_guest(uow: UnitOfWork, *, user_id: uuid.UUID, display_name: str | None) -> User:
    """A new anonymous user (local sign-in)."""
    await repository.insert_if_absent(
        uow.session, user_id=user_id, is_anonymous=True, display_name=display_name
    )
    user = await repository.get(uow.session, user_id)
    assert user is not None
    return user


async def named_user(uow: UnitOfWork, *, username: str, provider: MusicProvider) -> User:
    """The user with this username (any case), or a new non-anonymous one with `provider`
    (the local-mode CLI: `queueit token --username`). A guest's row is never handed out: a
    guest who took the name (before guests were refused usernames) would otherwise become
    the holder of the operator's full account."""
    user = await repository.by_username(uow.session, username)
    if user is not None and user.is_anonymous:
        raise UsernameBelongsToGuest()
    if user is None:
        user = User(
            id=uuid.uuid4(),
            username=username,
            is_anonymous=False,
            music_provider=provider,
            storefront="us",
        )
        uow.session.add(user)
        await uow.session.flush()
    return user


async def update_profile(uow: UnitOfWork, *, user: User, changes: UserUpdate) -> User:
    if changes.username is not None and user.is_anonymous:
        raise GuestCannotTakeUsername()
    if changes.username is not None and changes.username != user.username:
        if await repository.username_taken(uow.session, changes.username, except_id=user.id):
            raise UsernameTaken()
        user.username = changes.username
    if changes.display_name is not None:
        user.display_name = changes.display_name
    if changes.music_provider is not None:
        user.music_provider = changes.music_provider
    if changes.storefront is not None:
        user.storefront = changes.storefront
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # the unique index settles a race between two renames
        raise UsernameTaken() from exc
    return user


async def remove(uow: UnitOfWork, *, user: User) -> None:
    """Delete the profile and leave a tombstone, so tokens issued before now stop working
    (the account-deletion flow first takes the user out of every party: flows/account.py)."""
    await repository.record_deletion(uow.session, user.id)
    await repository.delete_user(uow.session, user.id)
    log.info("user_deleted", user_id=str(user.id))
