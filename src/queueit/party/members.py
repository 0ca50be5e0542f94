"""The people of a party as the host and co-hosts manage them: co-hosts granted and revoked,
members kicked or banned (optionally with their songs and votes), bans lifted, the party
handed over to another host. Who may do each is party/roles.py's table."""

from __future__ import annotations

import uuid
from typing import Literal

import structlog

from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import (
    events,
    guards,
    queue_repository,
    repository,
    roles,
    roles_repository,
    vote_repository,
)
from queueit.party.errors import (
    Banned,
    BanNotFound,
    CannotRemoveHost,
    GuestCannotTakeOver,
    MemberHostsAnotherParty,
    MemberNotFound,
)
from queueit.party.models import Party
from queueit.party.roles import Action, Role
from queueit.party.voting import apply_vote
from queueit.users.models import User

log = structlog.get_logger(__name__)

Removal = Literal["kicked", "banned"]


async def _member(uow: UnitOfWork, party: Party, user_id: uuid.UUID) -> User:
    """Someone in the party now (404 `member_not_found` otherwise)."""
    user = await uow.session.get(User, user_id, populate_existing=True)
    if user is None or user.current_party_id != party.id:
        raise MemberNotFound()
    return user


async def _announce_roles(uow: UnitOfWork, party: Party) -> None:
    """A change of roles: one new version, `roles.updated` to every socket of the party."""
    await repository.bump_version(uow.session, party)
    co_hosts = await roles_repository.co_host_ids(uow.session, party.id)
    uow.publish(events.roles_updated(party, co_hosts))


async def grant_co_host(
    uow: UnitOfWork, *, actor: User, party_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """The host makes a member a co-host (a no-op when they are one)."""
    party, _ = await guards.locked_party(
        uow, actor=actor, party_id=party_id, action=Action.GRANT_CO_HOST
    )
    target = await _member(uow, party, user_id)
    if target.id == party.host_id:
        return  # the host outranks a co-host
    if await roles_repository.grant_co_host(uow.session, party.id, target.id):
        await _announce_roles(uow, party)
        log.info("co_host_granted", session_id=str(party.id), user_id=str(target.id))


async def revoke_co_host(
    uow: UnitOfWork, *, actor: User, party_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """The host makes a co-host a guest again (a no-op for a guest, or someone gone)."""
    party, _ = await guards.locked_party(
        uow, actor=actor, party_id=party_id, action=Action.REVOKE_CO_HOST
    )
    if await roles_repository.revoke_roles(uow.session, party.id, user_id):
        await _announce_roles(uow, party)
        log.info("co_host_revoked", session_id=str(party.id), user_id=str(user_id))


async def kick(
    uow: UnitOfWork,
    *,
    actor: User,
    party_id: uuid.UUID,
    user_id: uuid.UUID,
    remove_songs: bool,
) -> None:
    """The host or a co-host removes a member, who may join again with the code."""
    party, role = await guards.locked_party(uow, actor=actor, party_id=party_id, action=Action.KICK)
    target = await _member(uow, party, user_id)
    await _remove(uow, party=party, role=role, target=target, removed="kicked", songs=remove_songs)


async def ban(
    uow: UnitOfWork,
    *,
    actor: User,
    party_id: uuid.UUID,
    user_id: uuid.UUID,
    remove_songs: bool,
) -> None:
    """The host or a co-host removes a member for good: their account may not join this party
    again, nor a fresh guest from the address they joined from (outside the host's own
    network; docs/DOMAIN.md "Roles"). Also someone who already left the party."""
    party, role = await guards.locked_party(uow, actor=actor, party_id=party_id, action=Action.BAN)
    target = await uow.session.get(User, user_id, populate_existing=True)
    if target is None or party.id not in (target.current_party_id, target.previous_party_id):
        raise MemberNotFound()
    if target.id == party.host_id:
        raise CannotRemoveHost()
    await roles_repository.ban(
        uow.session,
        party_id=party.id,
        user_id=target.id,
        join_address=target.join_address,
        banned_by=actor.id,
    )
    await _remove(uow, party=party, role=role, target=target, removed="banned", songs=remove_songs)


async def _remove(
    uow: UnitOfWork, *, party: Party, role: Role, target: User, removed: Removal, songs: bool
) -> None:
    """Take `target` out of `party` (and their role; with `songs`, their waiting songs and
    their votes): one new version; their sockets close with 4410."""
    if target.id == party.host_id:
        raise CannotRemoveHost()
    db = uow.session
    if await roles_repository.is_co_host(db, party.id, target.id):
        roles.require(role, Action.REMOVE_CO_HOST)
    # The checks above are the rules; these writes touch another member's rows (their
    # membership, their votes), which the user role may not (docs/RLS.md "Party roles and bans").
    async with uow.as_system():
        had_role = await roles_repository.revoke_roles(db, party.id, target.id)
        if target.current_party_id == party.id:
            await repository.set_membership(db, target, None)
            await repository.withdraw_skip_request(db, party_id=party.id, user_id=target.id)
        songs_removed = votes_removed = 0
        if songs:
            songs_removed = await queue_repository.remove_added_by(
                db, party.id, target.id, utcnow()
            )
            votes_removed = await _withdraw_votes(uow, party, target.id)
    await repository.bump_version(db, party)
    uow.publish(events.member_left(party, target.id, removed=removed))
    uow.publish(await events.party_updated(uow, party))
    if songs_removed or votes_removed:
        uow.publish(await events.queue_updated(db, party.id, party.version))
    if had_role:
        uow.publish(events.roles_updated(party, await roles_repository.co_host_ids(db, party.id)))
    log.info(
        "member_removed",
        session_id=str(party.id),
        user_id=str(target.id),
        removed=removed,
        songs=songs_removed,
        votes=votes_removed,
    )


async def _withdraw_votes(uow: UnitOfWork, party: Party, user_id: uuid.UUID) -> int:
    """The member's votes on the party's waiting songs, withdrawn (totals follow)."""
    db = uow.session
    withdrawn = 0
    for song_id in sorted(await queue_repository.my_votes(db, party.id, user_id)):
        song = await vote_repository.lock_ballot(db, uuid.UUID(song_id), party.id, user_id)
        if song is not None and await apply_vote(uow, song, user_id, None) is not None:
            withdrawn += 1
    return withdrawn


async def unban(uow: UnitOfWork, *, actor: User, party_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """The host or a co-host lifts a ban (404 `ban_not_found` when there is none)."""
    party, _ = await guards.locked_party(uow, actor=actor, party_id=party_id, action=Action.UNBAN)
    if not await roles_repository.unban(uow.session, party.id, user_id):
        raise BanNotFound()
    log.info("member_unbanned", session_id=str(party.id), user_id=str(user_id))


async def refuse_banned(uow: UnitOfWork, *, party: Party, actor: User, address: str | None) -> None:
    """The join path: 403 `banned` for a banned account, and for anyone joining from a banned
    member's address unless it is the host's own network (where everyone at the party is)."""
    db = uow.session
    # A joiner is not a member yet: row-level security would hide the party's bans from them.
    async with uow.as_system():
        by_account, by_address = await roles_repository.ban_matches(
            db, party.id, user_id=actor.id, address=address
        )
        if by_address and not by_account:
            by_address = not await repository.on_host_network(db, party.host_id, address)
    if by_account or by_address:
        log.info("join_refused_banned", session_id=str(party.id), by_address=not by_account)
        raise Banned()


async def hand_over(
    uow: UnitOfWork,
    *,
    actor: User,
    party_id: uuid.UUID,
    user_id: uuid.UUID,
    old_host_becomes: Literal["co_host", "guest"],
) -> None:
    """The host hands the party to a member with an account who is in it now; the old host
    stays in the party as a co-host or a guest. Serialised with every other change of the
    party by its row lock, so a racing host action sees either the old host or the new."""
    party, _ = await guards.locked_party(
        uow, actor=actor, party_id=party_id, action=Action.HAND_OVER
    )
    db = uow.session
    target = await db.get(User, user_id, populate_existing=True)
    if target is None or target.current_party_id != party.id or target.id == actor.id:
        raise GuestCannotTakeOver("Only someone in the party, other than you, can take it over.")
    if target.is_anonymous:
        raise GuestCannotTakeOver()
    # sessions.host_id is not the user role's to write, nor is the target's other party the
    # caller's to read (docs/RLS.md "Party roles and bans").
    async with uow.as_system():
        if await repository.hosted_active(db, target.id):
            raise MemberHostsAnotherParty()
        if not await roles_repository.set_host(db, party, target.id):
            raise MemberHostsAnotherParty()
        await roles_repository.revoke_roles(db, party.id, target.id)
        if old_host_becomes == "co_host":
            await roles_repository.grant_co_host(db, party.id, actor.id)
    await _announce_roles(uow, party)
    log.info("party_handed_over", session_id=str(party.id), host=str(target.id))
