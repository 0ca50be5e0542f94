"""Votes: one per member and queued song, +1 or -1, changed or withdrawn; the total is kept
on the queued song, in the vote's transaction. The party's vote rules (docs/DOMAIN.md "Party
rules" → "Votes"): the vote mode, the guests' downvotes an hour, and auto-remove.

This module is the rule's definition. On PostgreSQL with row-level security it has a fast
twin for the common case: `queueit_rls.cast_vote` (migrations/rls_0009/cast_vote.py: which
conditions it settles, which it defers; party/vote_fast_path.py calls it), which settles a
vote only where the rows alone show that `vote` would accept it and writes what `vote` writes,
and leaves every other vote, untouched, to `vote` here. A change to the rule is made here;
if it touches a condition the twin settles, the twin defers it (or follows) in a migration,
and tests/party/test_vote_fast_path.py (and the `vote_twin` suites) hold the two equal."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

import structlog

from queueit.core.errors import AppError
from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import (
    events,
    guards,
    presence,
    queue_repository,
    repository,
    rules,
    rules_repository,
    vote_repository,
)
from queueit.party.errors import (
    AddressVoteLimit,
    DownvoteLimit,
    DownvotesOff,
    SongNotFound,
    SongNotVotable,
    VotingOff,
)
from queueit.party.models import SongStatus
from queueit.party.schemas import VoteOut
from queueit.party.vote_repository import Ballot, Tally, VoteChange
from queueit.users.models import User

log = structlog.get_logger(__name__)

DOWNVOTE_WINDOW = timedelta(hours=1)


def mode_refusal(settings: rules.PartySettings, value: int | None) -> AppError | None:
    """The vote mode, the same for everyone, the host included (a host who wants downvotes
    turns them back on). Withdrawing a vote (None) is always allowed."""
    if value is None or settings.vote_mode is rules.VoteMode.up_down:
        return None
    if settings.vote_mode is rules.VoteMode.off:
        return VotingOff()
    return DownvotesOff() if value < 0 else None


async def vote_refusal(
    uow: UnitOfWork,
    *,
    party_id: uuid.UUID,
    host_id: uuid.UUID | None,
    song: Ballot,
    actor: User,
    value: int | None,
    settings: rules.PartySettings,
) -> AppError | None:
    """The one check of the party's vote rules, for a vote and for a re-add's upvote (the
    caller holds the party's row lock, so the downvote count holds under concurrent votes);
    None when the vote may be cast."""
    refusal = mode_refusal(settings, value)
    if refusal is not None or value != -1:
        return refusal
    limit = settings.downvotes_per_hour
    if limit is None or actor.id == host_id:
        return None  # the limit is the guests': the host's downvotes are theirs to spend
    if song.existing == -1:
        return None  # re-casting the same downvote is not a new one
    if limit == 0:
        return DownvotesOff("The host allows guests only upvotes at this party.")
    now = utcnow()
    recent = await rules_repository.recent_downvotes(
        uow.session, party_id, actor.id, since=now - DOWNVOTE_WINDOW, limit=limit
    )
    if len(recent) < limit:
        return None
    # The budget frees when the limit-th newest of them leaves the hour.
    wait = max(1, math.ceil((recent[-1] + DOWNVOTE_WINDOW - now).total_seconds()))
    minutes = math.ceil(wait / 60)
    return DownvoteLimit(
        f"Guests may downvote {limit} {'time' if limit == 1 else 'times'} an hour here;"
        f" you can downvote again in {minutes} {'minute' if minutes == 1 else 'minutes'}.",
        headers={"Retry-After": str(wait)},
    )


def change_of(song: Ballot, user_id: uuid.UUID, value: int | None) -> VoteChange | None:
    """What casting, changing or withdrawing (None) `user_id`'s vote on `song` changes, or
    None when nothing does (re-casting the same vote). Tier metadata moves only when the
    total does: a song enters its new tier now, by a gain when the total went up (flipping
    +1 to -1 is a loss). An upvote on a fallback entry makes it an ordinary request (someone
    wants it)."""
    if song.existing == value:
        return None
    return VoteChange(
        queued_song_id=song.id,
        user_id=user_id,
        value=value,
        delta=(value or 0) - (song.existing or 0),
        is_fallback=song.is_fallback and value != 1,
        at=utcnow(),
    )


async def apply_vote(
    uow: UnitOfWork, song: Ballot, user_id: uuid.UUID, value: int | None
) -> Tally | None:
    """Cast, change or withdraw (None) `user_id`'s vote on `song` (row-locked by the caller,
    with that user's vote; the caller bumps the party's version); the song's votes
    afterwards, or None when nothing changed."""
    change = change_of(song, user_id, value)
    if change is None:
        return None
    return await vote_repository.record(uow.session, change)


async def address_may_vote(
    uow: UnitOfWork, song: Ballot, actor: User, *, host_id: uuid.UUID | None
) -> bool:
    """Members who joined from one address cast at most MEMBERS_COUNTED_PER_ADDRESS votes on
    one song (changing your own vote is always allowed; the host, and guests on the host's
    own network, are never capped), so ten accounts of one script count as two, not ten
    (docs/DOMAIN.md "Crowds and addresses")."""
    cap = uow.settings.members_counted_per_address
    if cap <= 0 or actor.join_address is None or actor.id == host_id:
        return True
    if song.existing is not None:
        return True
    others = await queue_repository.votes_from(
        uow.session, song.id, actor.join_address, besides=actor.id
    )
    return others < cap or await repository.on_host_network(
        uow.session, host_id, actor.join_address
    )


async def vote(
    uow: UnitOfWork, *, actor: User, queued_song_id: uuid.UUID, value: int | None
) -> VoteOut:
    """Cast (+1/-1), change, or withdraw (None) the caller's vote on a queued song: the
    party's row lock, the song's with the caller's vote, the rules, then the vote, the
    song's total and the party's version (on PostgreSQL three statements for a plain vote,
    two of them under the party's lock; on SQLite five)."""
    db = uow.session
    party = await guards.locked_party_to_vote_in(uow, actor)
    song = await vote_repository.lock_ballot(db, queued_song_id, party.id, actor.id)
    if song is None:
        raise SongNotFound()
    if song.status != SongStatus.queued:
        raise SongNotVotable()
    settings = rules.settings_of(party.settings)
    refusal = await vote_refusal(
        uow,
        party_id=party.id,
        host_id=party.host_id,
        song=song,
        actor=actor,
        value=value,
        settings=settings,
    )
    if refusal is not None:
        raise refusal
    if value is not None and not await address_may_vote(uow, song, actor, host_id=party.host_id):
        raise AddressVoteLimit()
    change = change_of(song, actor.id, value)
    if change is None:
        return VoteOut(total_votes=song.votes)
    # The vote row, the total and the version: one round trip on PostgreSQL.
    tally, version = await vote_repository.record_and_bump(db, change, party_id=party.id)
    total = tally.total_votes
    log.info(
        "vote_cast", session_id=str(party.id), queued_song_id=str(song.id), value=value, total=total
    )
    if total < song.votes and await auto_removes(uow, party.id, total, settings):
        # The server's own decision, made under the party's lock: the policies let a
        # guest remove only their own unvoted song (docs/RLS.md "Known limits").
        async with uow.as_system():
            await queue_repository.remove(db, song.id, utcnow())
        removed = [{"queued_song_id": str(song.id), "reason": "auto_removed"}]
        uow.publish(await events.queue_updated(db, party.id, version, removed=removed))
        log.info(
            "song_auto_removed", session_id=str(party.id), queued_song_id=str(song.id), total=total
        )
    else:
        uow.publish(events.votes_updated(party.id, version, tally))
    return VoteOut(total_votes=total)


async def auto_removes(
    uow: UnitOfWork, party_id: uuid.UUID, total: int, settings: rules.PartySettings
) -> bool:
    """Whether the party's auto-remove takes a song whose total a vote just lowered to
    `total` out of the queue: its total is below -max(min votes, percent of the members
    present)."""
    if not settings.auto_remove or total >= -settings.auto_remove_min_votes:
        return False  # the threshold is never above -min: no count needed
    party = await repository.get(uow.session, party_id)  # locked already by the vote
    assert party is not None
    present = await repository.participant_count(uow.session, party, presence.crowd(uow))
    return total < settings.auto_remove_below(present)


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
            song = await vote_repository.lock_ballot(db, song_id, party_id, user_id)
            tally = await apply_vote(uow, song, user_id, None) if song is not None else None
            if tally is not None:
                changed.append(tally)
        if changed:
            version = await repository.bump_version(db, party)
            for tally in changed:
                uow.publish(events.votes_updated(party_id, version, tally))
