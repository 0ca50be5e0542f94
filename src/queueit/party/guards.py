"""Who may touch which party: the checks every use case starts with. A change starts by
locking the party row (`locked_party_of`), so changes to one party are serialised."""

from __future__ import annotations

import uuid

from queueit.core.uow import UnitOfWork
from queueit.party import repository, roles, vote_repository
from queueit.party.errors import NoActiveParty, NotHost, NotMember
from queueit.party.models import Party
from queueit.party.roles import Action, Role
from queueit.users.models import User


async def locked_party_of(uow: UnitOfWork, actor: User) -> Party:
    """The caller's active party, row-locked (every change to a party starts here)."""
    if actor.current_party_id is None:
        raise NoActiveParty()
    return _active(await repository.lock(uow.session, actor.current_party_id))


async def locked_party_to_vote_in(uow: UnitOfWork, actor: User) -> vote_repository.LockedParty:
    """The caller's active party, row-locked like `locked_party_of`, as the few columns a
    vote reads (no ORM instance: the vote is the hottest write)."""
    if actor.current_party_id is None:
        raise NoActiveParty()
    party = await vote_repository.lock_party(uow.session, actor.current_party_id)
    if party is None or party.ended_at is not None:
        raise NoActiveParty()
    return party


async def party_of(uow: UnitOfWork, actor: User) -> Party:
    """The caller's active party, not locked: for work that must not hold the lock across
    network I/O (resolving a track in a catalog before the add takes the lock)."""
    if actor.current_party_id is None:
        raise NoActiveParty()
    return _active(await repository.get(uow.session, actor.current_party_id))


def _active(party: Party | None) -> Party:
    if party is None or party.ended_at is not None:
        raise NoActiveParty()
    return party


async def managed_party(uow: UnitOfWork, actor: User, action: Action) -> tuple[Party, Role]:
    """The caller's active party, row-locked, and their role in it, when the role permits
    `action` (party/roles.py; 403 otherwise)."""
    party = await locked_party_of(uow, actor)
    return party, await roles.require_role(uow, party, actor, action)


async def locked_party(
    uow: UnitOfWork, *, actor: User, party_id: uuid.UUID, action: Action
) -> tuple[Party, Role]:
    """The active party `party_id`, row-locked, and the caller's role in it, when the caller
    is in it (or hosts it) and the role permits `action`."""
    party = await repository.lock(uow.session, party_id)
    if party is None:
        if await party_state(uow, party_id) == "active":
            raise NotMember()  # row-level security hides it from outsiders
        raise NoActiveParty("No such active party.")
    if party.ended_at is not None:
        raise NoActiveParty("No such active party.")
    if actor.current_party_id != party.id and actor.id != party.host_id:
        raise NotMember()
    return party, await roles.require_role(uow, party, actor, action)


async def party_state(uow: UnitOfWork, party_id: uuid.UUID) -> str | None:
    """'active', 'ended' or None, also for a party the caller may not read (ids are not
    secret; codes and hosts are)."""
    return await repository.state(uow.session, party_id)


async def active_party(
    uow: UnitOfWork, party_id: uuid.UUID, *, outsider: type[NotHost | NotMember] | None = None
) -> Party:
    """The party, when it exists and has not ended (not locked: for reads). On PostgreSQL an
    outsider cannot read it: with `outsider`, an active party they cannot see is that error."""
    party = await repository.get(uow.session, party_id)
    if party is None and outsider is not None and await party_state(uow, party_id) == "active":
        raise outsider()
    if party is None or party.ended_at is not None:
        raise NoActiveParty("No such active party.")
    return party


async def member_party(uow: UnitOfWork, *, actor: User, party_id: uuid.UUID) -> Party:
    """The party, when the caller is in it and it is active (not locked: for reads)."""
    party = await repository.get(uow.session, party_id)
    if party is None:
        if await party_state(uow, party_id) is not None:
            raise NotMember()  # it exists; row-level security hides it from outsiders
        raise NoActiveParty("No such party.")
    if actor.current_party_id != party.id:
        raise NotMember()
    if party.ended_at is not None:
        raise NoActiveParty()
    return party


async def hosted_active_party(
    uow: UnitOfWork, *, actor: User, party_id: uuid.UUID, action: Action
) -> Party:
    """The active party `party_id` when the caller's role permits `action`, a host-only one
    (403 `not_host` otherwise, also for an outsider)."""
    party = await active_party(uow, party_id, outsider=NotHost)
    await roles.require_role(uow, party, actor, action)
    return party


async def member_or_host_party(uow: UnitOfWork, *, actor: User, party_id: uuid.UUID) -> Party:
    """The active party `party_id` when the caller is in it or hosts it."""
    party = await active_party(uow, party_id, outsider=NotMember)
    if actor.current_party_id != party.id and actor.id != party.host_id:
        raise NotMember()
    return party


async def hosted_party_even_ended(uow: UnitOfWork, *, actor: User, party_id: uuid.UUID) -> Party:
    """The party `party_id`, active or ended, when the caller hosts it (not locked: for reads,
    such as the host exporting the history afterwards). 403 `not_host` for anyone else, also
    for a party row-level security hides from them; 404 when there is no such party."""
    party = await repository.get(uow.session, party_id)
    if party is None:
        if await party_state(uow, party_id) is not None:
            raise NotHost()
        raise NoActiveParty("No such party.")
    roles.require(Role.host if party.host_id == actor.id else Role.guest, Action.EXPORT_HISTORY)
    return party
