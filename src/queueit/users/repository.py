"""SQL for users."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.core.engine import insert_for
from queueit.core.types import utcnow
from queueit.users.models import DeletedAccount, MusicProvider, User


async def get(db: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await db.get(User, user_id)


async def get_for_update(db: AsyncSession, user_id: uuid.UUID) -> User | None:
    result = await db.execute(select(User).where(User.id == user_id).with_for_update())
    return result.scalar_one_or_none()


async def insert_if_absent(
    db: AsyncSession, *, user_id: uuid.UUID, is_anonymous: bool, display_name: str | None = None
) -> None:
    """Provision a user; a concurrent first request for the same user is not an error."""
    values = {
        "id": user_id,
        "is_anonymous": is_anonymous,
        "display_name": display_name,
        "music_provider": MusicProvider.none,
        "storefront": "us",
        "last_active_at": utcnow(),
        "created_at": utcnow(),
    }
    statement = insert_for(db)(User).values(**values)
    await db.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


async def by_username(db: AsyncSession, username: str) -> User | None:
    query = select(User).where(func.lower(User.username) == username.lower())
    return (await db.execute(query)).scalar_one_or_none()


async def username_taken(db: AsyncSession, username: str, *, except_id: uuid.UUID) -> bool:
    query = select(User.id).where(
        func.lower(User.username) == username.lower(), User.id != except_id
    )
    return (await db.execute(query.limit(1))).first() is not None


async def touch(db: AsyncSession, user_id: uuid.UUID, *, min_interval: timedelta) -> None:
    """Refresh presence, at most once per `min_interval` (avoids a write on every request)."""
    now = utcnow()
    await db.execute(
        update(User)
        .where(User.id == user_id, User.last_active_at < now - min_interval)
        .values(last_active_at=now)
    )


async def deleted_at(db: AsyncSession, user_id: uuid.UUID) -> datetime | None:
    row = await db.get(DeletedAccount, user_id)
    return row.deleted_at if row else None


async def record_deletion(db: AsyncSession, user_id: uuid.UUID) -> None:
    await db.execute(delete(DeletedAccount).where(DeletedAccount.user_id == user_id))
    db.add(DeletedAccount(user_id=user_id, deleted_at=utcnow()))


async def delete_user(db: AsyncSession, user_id: uuid.UUID) -> None:
    await db.execute(delete(User).where(User.id == user_id))
