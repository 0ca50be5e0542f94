"""Songs in the queue: adding (re-adding a queued track is an upvote; the first song of an
idle party starts at once) and removing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog

from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import events, guards, playback, queue_repository, repository, roles, snapshot
from queueit.party.errors import (
    NotAllowedToRemove,
    PartyLocked,
    QueueFull,
    SongLimitReached,
    SongNotFound,
    SongNotRemovable,
)
from queueit.party.models import Party, SongStatus
from queueit.party.schemas import QueuedSongOut
from queueit.party.voting import address_may_vote, apply_vote
from queueit.users.models import User

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Adding:
    """An add in progress: the caller's party, row-locked, and their role in it."""

    party: Party
    actor: User
    role: roles.Role

    @property
    def is_host(self) -> bool:
        """The host's adds are not capped (co-hosts' are, like guests')."""
        return self.role is roles.Role.host


async def begin_add(uow: UnitOfWork, actor: User) -> Adding:
    """Lock the caller's party and check they may add to it now (a locked party takes songs
    from its host only). The track is stored after this, so a refused add writes nothing."""
    party = await guards.locked_party_of(uow, actor)
    # Co-hosts add as guests do (the table: only the host adds while locked, only the host is
    # uncapped), so the hot add path does not read their role.
    role = roles.Role.host if party.host_id == actor.id else roles.Role.guest
    if party.is_locked and not roles.permits(role, roles.Action.ADD_WHILE_LOCKED):
        raise PartyLocked()
    adding = Adding(party=party, actor=actor, role=role)
    return adding


async def add_song(
    uow: UnitOfWork,
    adding: Adding,
    *,
    song_id: uuid.UUID,
    max_queue_length: int,
    max_songs_per_guest: int,
) -> QueuedSongOut:
    """Queue a stored track (catalog/store.py) in the party `begin_add` locked."""
    party, actor = adding.party, adding.actor
    db = uow.session
    existing = await queue_repository.find_queued(db, party.id, song_id)
    if existing is not None:
        # Re-adding is an upvote, capped per address like any vote (then it changes nothing).
        allowed = await address_may_vote(uow, existing, actor, party=party)
        if allowed and await apply_vote(uow, existing, actor.id, 1):
            version = await repository.bump_version(db, party)
            uow.publish(events.votes_updated(party.id, version, existing))
        return await snapshot.song_out(uow, existing.id)
    if await queue_repository.queue_total(db, party.id) >= max_queue_length:
        raise QueueFull(f"The queue is full ({max_queue_length} songs).")
    if (
        not adding.is_host
        and await queue_repository.count_added_by(db, party.id, actor.id) >= max_songs_per_guest
    ):
        raise SongLimitReached(f"A guest may have {max_songs_per_guest} songs waiting at once.")
    per_address = uow.settings.max_songs_per_address
    if (
        not adding.is_host
        and actor.join_address is not None
        and await queue_repository.count_added_from(db, party.id, actor.join_address) >= per_address
        and not await repository.on_host_network(db, party, actor.join_address)
    ):
        raise SongLimitReached(
            f"The guests on your network have {per_address} songs waiting, as many as one"
            " network may; wait until some have played."
        )
    queued = await queue_repository.insert_queued(
        db, party_id=party.id, song_id=song_id, user_id=actor.id
    )
    if party.current_song_id is None:
        await playback.advance(uow, party=party, outcome=SongStatus.played, crowdsourced=False)
    else:
        version = await repository.bump_version(db, party)
        uow.publish(await events.queue_updated(db, party.id, version))
    log.info("song_added", session_id=str(party.id), queued_song_id=str(queued.id))
    return await snapshot.song_out(uow, queued.id)


async def remove_song(uow: UnitOfWork, *, actor: User, queued_song_id: uuid.UUID) -> None:
    """The host or a co-host removes any queued song; the adder removes theirs while no one
    else voted."""
    party = await guards.locked_party_of(uow, actor)
    song = await queue_repository.lock_in_party(uow.session, queued_song_id, party.id)
    if song is None:
        raise SongNotFound()
    role = await roles.role_of(uow, party, actor)
    if not roles.permits(role, roles.Action.REMOVE_ANY_SONG):
        if song.added_by_id != actor.id:
            raise NotAllowedToRemove()
        if await queue_repository.has_votes_from_others(uow.session, song.id, actor.id):
            raise NotAllowedToRemove(
                "Others have voted on this song; only the host or a co-host can remove it."
            )
    if song.status != SongStatus.queued:
        raise SongNotRemovable()
    await queue_repository.remove(uow.session, song.id, utcnow())
    version = await repository.bump_version(uow.session, party)
    uow.publish(await events.queue_updated(uow.session, party.id, version))


async def remove_songs_of(uow: UnitOfWork, *, actor: User, user_id: uuid.UUID) -> int:
    """The host or a co-host removes every song one member has waiting (a troll's flood, in
    one go): one new version and one `queue.updated`, however many songs. Returns how many
    were removed."""
    party, _ = await guards.managed_party(uow, actor, roles.Action.REMOVE_MEMBER_SONGS)
    removed = await queue_repository.remove_added_by(uow.session, party.id, user_id, utcnow())
    if removed:
        version = await repository.bump_version(uow.session, party)
        uow.publish(await events.queue_updated(uow.session, party.id, version))
        log.info(
            "member_songs_removed", session_id=str(party.id), user_id=str(user_id), count=removed
        )
    return removed
