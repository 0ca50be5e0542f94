"""SQL for a party's roles: its host (the hand-over), its co-hosts (`party_roles`) and its bans
(`party_bans`)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.core.engine import insert_for
from queueit.core.types import utcnow
from queueit.party.models import Party, PartyBan, PartyRole, PartyRoleName
from queueit.users.models import User


async def is_co_host(db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    query = select(PartyRole.user_id).where(
        PartyRole.party_id == party_id,
        PartyRole.user_id == user_id,
        PartyRole.role == PartyRoleName.co_host.value,
    )
    return (await db.execute(query)).first() is not None


async def co_host_ids(db: AsyncSession, party_id: uuid.UUID) -> set[uuid.UUID]:
    query = select(PartyRole.user_id).where(
        PartyRole.party_id == party_id, PartyRole.role == PartyRoleName.co_host.value
    )
    return set((await db.execute(query)).scalars())


async def co_hosts(db: AsyncSession, party_id: uuid.UUID) -> list[User]:
    """The co-hosts' accounts, by id (a stable order)."""
    query = (
        select(User)
        .join(PartyRole, PartyRole.user_id == User.id)
        .where(PartyRole.party_id == party_id, PartyRole.role == PartyRoleName.co_host.value)
        .order_by(User.id)
    )
    return list((await db.execute(query)).scalars())


async def grant_co_host(db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """True when the role was granted now (False: they had it)."""
    statement = (
        insert_for(db)(PartyRole)
        .values(party_id=party_id, user_id=user_id, role=PartyRoleName.co_host.value)
        .on_conflict_do_nothing(index_elements=["session_id", "user_id"])
    )
    result = await db.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def revoke_roles(db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """True when they had a role."""
    result = await db.execute(
        delete(PartyRole).where(PartyRole.party_id == party_id, PartyRole.user_id == user_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def ban(
    db: AsyncSession,
    *,
    party_id: uuid.UUID,
    user_id: uuid.UUID,
    join_address: str | None,
    banned_by: uuid.UUID,
) -> None:
    values = {
        "party_id": party_id,
        "user_id": user_id,
        "join_address": join_address,
        "banned_at": utcnow(),
        "banned_by": banned_by,
    }
    statement = (
        insert_for(db)(PartyBan)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["session_id", "user_id"])
    )
    await db.execute(statement)


async def unban(db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await db.execute(
        delete(PartyBan).where(PartyBan.party_id == party_id, PartyBan.user_id == user_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def ban_matches(
    db: AsyncSession, party_id: uuid.UUID, *, user_id: uuid.UUID, address: str | None
) -> tuple[bool, bool]:
    """(the account is banned, a ban names `address`) for `party_id`."""
    matches = [PartyBan.user_id == user_id]
    if address is not None:
        matches.append(PartyBan.join_address == address)
    query = select(PartyBan.user_id, PartyBan.join_address).where(
        PartyBan.party_id == party_id, or_(*matches)
    )
    rows = (await db.execute(query)).all()
    by_account = any(row[0] == user_id for row in rows)
    by_address = address is not None and any(row[1] == address for row in rows)
    return by_account, by_address


async def set_host(db: AsyncSession, party: Party, host_id: uuid.UUID) -> bool:
    """Hand `party` to `host_id`; False when they host another active party meanwhile (the
    one-active-party-per-host index), in which case nothing changed."""
    try:
        async with db.begin_nested():
            party.host_id = host_id
            await db.flush()
    except IntegrityError:
        await db.refresh(party)
        return False
    return True
