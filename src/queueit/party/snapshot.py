"""The read model: what a member (or the TV) sees of a party, built in a constant number of
statements whatever the queue size. One builder for GET /sessions/current, the TV and the
socket's `session.snapshot`."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from queueit.core.uow import UnitOfWork
from queueit.party import guards, presence, queue_repository, repository, roles_repository, rules
from queueit.party.errors import NoActiveParty
from queueit.party.models import Party
from queueit.party.schemas import (
    CurrentSessionOut,
    QueuedSongOut,
    QueuePage,
    RoleName,
    SessionBaseOut,
)
from queueit.party.shapes import queued_song_out, user_of
from queueit.users.models import User


async def snapshot(
    uow: UnitOfWork,
    *,
    party_id: uuid.UUID,
    viewer_id: uuid.UUID,
    queue_limit: int = 100,
    queue_offset: int = 0,
) -> CurrentSessionOut:
    """The CurrentSession `viewer_id` sees (their votes, their skip request)."""
    db = uow.session
    found = await repository.with_host(db, party_id)
    if found is None or found[0].ended_at is not None:
        raise NoActiveParty()
    party, host = found
    current = None
    if party.current_song_id is not None:
        row = await queue_repository.song_row(db, party.current_song_id)
        current = queued_song_out(row) if row is not None else None
    rows = await queue_repository.queue_page(
        db, party.id, limit=queue_limit, offset=queue_offset, fair=rules.fair_play(party)
    )
    counts = await repository.counts(db, party, viewer_id, crowd=presence.crowd(uow))
    co_hosts = await roles_repository.co_hosts(db, party.id)
    my_role = role_of_viewer(
        viewer_id, host_id=party.host_id, co_host_ids={user.id for user in co_hosts}
    )
    return CurrentSessionOut(
        session=base(party, host, co_hosts),
        current_song=current,
        queue=[queued_song_out(row) for row in rows],
        queue_total=counts.queue_total,
        my_votes=await queue_repository.my_votes(db, party.id, viewer_id),
        skip_request_count=counts.skip_request_count,
        participant_count=counts.participant_count,
        user_requested_skip=counts.user_requested_skip,
        last_skip_was_crowdsourced=party.last_skip_was_crowdsourced,
        my_role=my_role,
    )


def role_of_viewer(
    viewer_id: uuid.UUID, *, host_id: uuid.UUID | None, co_host_ids: Collection[uuid.UUID]
) -> RoleName:
    """The snapshot's `my_role` (also what the read model splices in for each caller)."""
    if viewer_id == host_id:
        return "host"
    return "co_host" if viewer_id in co_host_ids else "guest"


async def versions(
    uow: UnitOfWork, party_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, repository.PartyVersion]:
    """Version and ended flag of each existing party (unknown ids are absent): what a
    snapshot of each would say, without building it."""
    return await repository.versions(uow.session, party_ids)


async def current(
    uow: UnitOfWork, *, actor: User, queue_limit: int, queue_offset: int
) -> CurrentSessionOut:
    """The party the caller is in (404 `no_active_session` when none, or it ended)."""
    if actor.current_party_id is None:
        raise NoActiveParty()
    return await snapshot(
        uow,
        party_id=actor.current_party_id,
        viewer_id=actor.id,
        queue_limit=queue_limit,
        queue_offset=queue_offset,
    )


def base(party: Party, host: User | None, co_hosts: Sequence[User] = ()) -> SessionBaseOut:
    return SessionBaseOut(
        id=party.id,
        join_code=party.join_code,
        created_at=party.created_at,
        host=user_of(host, is_host=True),
        host_provider=party.host_provider,
        is_locked=party.is_locked,
        is_paused=party.is_paused,
        ended_at=party.ended_at,
        version=party.version,
        settings=rules.settings_of(party.settings),
        co_hosts=[user_of(user, role="co_host") for user in co_hosts],
    )


async def song_out(uow: UnitOfWork, queued_song_id: uuid.UUID) -> QueuedSongOut:
    row = await queue_repository.song_row(uow.session, queued_song_id)
    assert row is not None
    return queued_song_out(row)


async def queue_page(
    uow: UnitOfWork, *, actor: User, party_id: uuid.UUID, limit: int, offset: int
) -> QueuePage:
    party = await guards.member_party(uow, actor=actor, party_id=party_id)
    rows = await queue_repository.queue_page(
        uow.session, party.id, limit=limit, offset=offset, fair=rules.fair_play(party)
    )
    total = await queue_repository.queue_total(uow.session, party.id)
    return QueuePage(
        items=[queued_song_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


async def history_page(
    uow: UnitOfWork, *, actor: User, party_id: uuid.UUID, limit: int, offset: int
) -> QueuePage:
    party = await guards.member_party(uow, actor=actor, party_id=party_id)
    rows, total = await queue_repository.history_page(
        uow.session, party.id, limit=limit, offset=offset
    )
    return QueuePage(
        items=[queued_song_out(r) for r in rows], total=total, limit=limit, offset=offset
    )
