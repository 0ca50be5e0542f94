"""Votes: one per member and queued song, +1 or -1, changed or withdrawn; the total is kept
on the queued song, in the vote's transaction."""

from __future__ import annotations

import uuid

import structlog

from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import events, guards, queue_repository, repository
from queueit.party.errors import AddressVoteLimit, SongNotFound, SongNotVotable
from queueit.party.models import Party, QueuedSong, SongStatus
from queueit.party.schemas import VoteOut
from queueit.users.models import User

log = structlog.get_logger(__name__)


async def apply_vote(
    uow: UnitOfWork, song: QueuedSong, user_id: uuid.UUID, value: int | None
) -> bool:
    """Cast, change or withdraw (None) a vote on `song` (row-locked by the caller); False when
    nothing changed. Tier metadata moves only when the total does (re-casting the same vote
    changes nothing; flipping +1 to -1 is a loss)."""
    db = uow.session
    existing = await queue_repository.get_vote(db, song.id, user_id)
    if existing == value:
        return False
    if value is None:
        await queue_repository.delete_vote(db, song.id, user_id)
    else:
        await queue_repository.put_vote(db, song.id, user_id, value)
    delta = (value or 0) - (existing or 0)
    song.votes += delta
    song.entered_tier_by_gain = delta > 0
    song.last_entered_tier_at = utcnow()
    if value == 1 and song.is_fallback:
        song.is_fallback = False  # someone wants it: an ordinary request from now on
    await db.flush()
    return True


async def address_may_vote(uow: UnitOfWork, song: QueuedSong, actor: User, *, party: Party) -> bool:
    """Members who joined from one address cast at most MEMBERS_COUNTED_PER_ADDRESS votes on
    one song (changing your own vote is always allowed; the host, and guests on the host's
    own network, are never capped), so ten accounts of one script count as two, not ten
    (docs/DOMAIN.md "Crowds and addresses")."""
    cap = uow.settings.members_counted_per_address
    if cap <= 0 or actor.join_address is None or actor.id == party.host_id:
        return True
    if await queue_repository.get_vote(uow.session, song.id, actor.id) is not None:
        return True
    others = await queue_repository.votes_from(
        uow.session, song.id, actor.join_address, besides=actor.id
    )
    return others < cap or await repository.on_host_network(uow.session, party, actor.join_address)


async def vote(
    uow: UnitOfWork, *, actor: User, queued_song_id: uuid.UUID, value: int | None
) -> VoteOut:
    """Cast (+1/-1), change, or withdraw (None) the caller's vote on a queued song."""
    party = await guards.locked_party_of(uow, actor)
    song = await queue_repository.lock_in_party(uow.session, queued_song_id, party.id)
    if song is None:
        raise SongNotFound()
    if song.status != SongStatus.queued:
        raise SongNotVotable()
    if value is not None and not await address_may_vote(uow, song, actor, party=party):
        raise AddressVoteLimit()
    if await apply_vote(uow, song, actor.id, value):
        version = await repository.bump_version(uow.session, party)
        uow.publish(events.votes_updated(party.id, version, song))
        log.info(
            "vote_cast",
            session_id=str(party.id),
            queued_song_id=str(song.id),
            value=value,
            total=song.votes,
        )
    return VoteOut(total_votes=song.votes)


async def withdraw_all_votes(uow: UnitOfWork, *, user_id: uuid.UUID) -> None:
    """Take back every vote the user has on songs still queued (account deletion)."""
    db = uow.session
    votes = await queue_repository.user_votes_in_queue(db, user_id)
    songs = {}
    for song_id, _ in votes:
        row = await queue_repository.song_row(db, song_id)
        if row is not None:
            songs[song_id] = row[0].party_id
    for party_id in sorted(set(songs.values())):
        party = await repository.lock(db, party_id)
        if party is None:
            continue
        changed = []
        for song_id in sorted(s for s, pid in songs.items() if pid == party_id):
            song = await queue_repository.lock_in_party(db, song_id, party_id)
            if song is not None and await apply_vote(uow, song, user_id, None):
                changed.append(song)
        if changed:
            version = await repository.bump_version(db, party)
            for song in changed:
                uow.publish(events.votes_updated(party_id, version, song))
