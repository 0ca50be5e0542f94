"""A party's life: created by a host, joined and left by members, ended by its host, its
host's account deletion or idleness."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError

from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import (
    events,
    guards,
    members,
    names,
    playback,
    queue_repository,
    repository,
    roles,
    snapshot,
    voting,
)
from queueit.party.errors import (
    AlreadyHosting,
    GuestCannotHost,
    JoinCodeTaken,
    NoMusicProvider,
    PartyNotFound,
)
from queueit.party.models import Party, SongStatus
from queueit.party.schemas import CurrentSessionOut
from queueit.users.models import MusicProvider, User

log = structlog.get_logger(__name__)

# No look-alikes (0/O, 1/I/L): codes are read aloud and typed from a screen.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATED_CODE_LENGTH = 6
GENERATE_ATTEMPTS = 8


def generate_join_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))


async def create(
    uow: UnitOfWork, *, actor: User, join_code: str | None, address: str | None = None
) -> CurrentSessionOut:
    """Open a party hosted by the caller (non-anonymous, with a music provider)."""
    if actor.is_anonymous:
        raise GuestCannotHost()
    if actor.music_provider == MusicProvider.none:
        raise NoMusicProvider()
    await leave(uow, actor=actor)
    # One active party per host (a unique index): opening a new one ends the old, so one
    # account holds one join code at a time.
    for old_id in await repository.hosted_active(uow.session, actor.id):
        old = await repository.lock(uow.session, old_id)
        if old is not None and old.ended_at is None:
            await end_party(uow, party=old, reason="host_opened_another")
    party = await _insert_with_code(uow, actor=actor, join_code=join_code)
    await repository.set_membership(uow.session, actor, party.id, address=address)
    log.info("session_created", session_id=str(party.id), join_code=party.join_code)
    return await snapshot.snapshot(uow, party_id=party.id, viewer_id=actor.id)


async def _insert_with_code(uow: UnitOfWork, *, actor: User, join_code: str | None) -> Party:
    """The unique index on active join codes settles races; a generated code is retried."""
    attempts = 1 if join_code else GENERATE_ATTEMPTS
    for _ in range(attempts):
        party = Party(
            id=uuid.uuid4(),
            join_code=join_code or generate_join_code(),
            host_id=actor.id,
            host_provider=actor.music_provider.value,
            host_storefront=actor.storefront,
            version=1,
            created_at=utcnow(),
            last_activity_at=utcnow(),
        )
        try:
            await repository.insert(uow.session, party)
        except IntegrityError as exc:
            if "host" in str(exc.orig):  # uq_sessions_one_active_per_host / sessions.host_id
                raise AlreadyHosting() from None
            continue
        return party
    if join_code:
        raise JoinCodeTaken(f"The join code {join_code} is in use by another party.")
    raise JoinCodeTaken("Could not find a free join code; try again.")


async def join(
    uow: UnitOfWork,
    *,
    actor: User,
    join_code: str,
    address: str | None = None,
    admit: Callable[[uuid.UUID], Awaitable[None]] | None = None,
) -> CurrentSessionOut:
    """Join the active party with this code (case-insensitive), leaving any other first.
    `address` is the keyed hash of the client address; `admit` may refuse a new member of
    that party (the per-party join limit) before anything is written."""
    found = await repository.active_by_code(uow.session, join_code)
    if found is None:
        raise PartyNotFound()
    if actor.current_party_id != found.id:
        await members.refuse_banned(uow, party=found, actor=actor, address=address)
        if admit is not None:
            await admit(found.id)
        await leave(uow, actor=actor)
        party = await repository.lock(uow.session, found.id)
        if party is None or party.ended_at is not None:
            raise PartyNotFound()
        await repository.set_membership(uow.session, actor, party.id, address=address)
        # After joining: only a member may read the host's profile (row-level security); a
        # refusal rolls the whole join back.
        await names.refuse_host_imitation(uow, actor=actor, party=party)
        await playback.announce(uow, party)
        log.info("session_joined", session_id=str(party.id), user_id=str(actor.id))
    return await snapshot.snapshot(uow, party_id=found.id, viewer_id=actor.id)


async def leave(uow: UnitOfWork, *, actor: User) -> None:
    """Leave the current party (if any): withdraw a pending skip request, tell the others."""
    if actor.current_party_id is None:
        return
    party = await repository.lock(uow.session, actor.current_party_id)
    await repository.set_membership(uow.session, actor, None)
    if party is None or party.ended_at is not None:
        return
    await repository.withdraw_skip_request(uow.session, party_id=party.id, user_id=actor.id)
    await playback.announce(uow, party)
    # Internal: tells every instance's hub to close this user's sockets for the party (4403).
    uow.publish(events.member_left(party, actor.id))
    log.info("session_left", session_id=str(party.id), user_id=str(actor.id))


async def end(uow: UnitOfWork, *, actor: User) -> None:
    """The host ends their party."""
    party, _ = await guards.managed_party(uow, actor, roles.Action.END)
    await end_party(uow, party=party, reason="ended_by_host")


async def end_party(uow: UnitOfWork, *, party: Party, reason: str) -> None:
    """End a party (the caller holds its lock): the playing song counts as played, members
    are released, the code is freed, everyone gets `session.ended`."""
    db = uow.session
    now = utcnow()
    if party.current_song_id is not None:
        await queue_repository.finish(db, party.current_song_id, SongStatus.played, now)
    await repository.clear_skip_requests(db, party.id)
    await repository.release_members(db, party.id)
    party.ended_at = now
    party.end_reason = reason
    await repository.bump_version(db, party)
    uow.publish(events.party_ended(party))
    log.info("session_ended", session_id=str(party.id), reason=reason)


async def forget_member(uow: UnitOfWork, *, user: User) -> None:
    """Before an account is deleted: leave, withdraw votes, end the parties they host."""
    await leave(uow, actor=user)
    await voting.withdraw_all_votes(uow, user_id=user.id)
    for party_id in await repository.hosted_active(uow.session, user.id):
        party = await repository.lock(uow.session, party_id)
        if party is not None and party.ended_at is None:
            await end_party(uow, party=party, reason="host_deleted")


async def expire_idle(uow: UnitOfWork, *, idle_hours: float) -> int:
    """End parties with no activity for `idle_hours`; returns how many were ended."""
    cutoff = utcnow() - timedelta(hours=idle_hours)
    ended = 0
    for party_id in await repository.idle(uow.session, cutoff=cutoff):
        party = await repository.lock(uow.session, party_id)
        if party is not None and party.ended_at is None and party.last_activity_at < cutoff:
            await end_party(uow, party=party, reason="idle")
            ended += 1
    return ended


async def count_active(uow: UnitOfWork) -> int:
    """Parties not yet ended (the `queueit_active_sessions` gauge)."""
    return await repository.count_active(uow.session)
