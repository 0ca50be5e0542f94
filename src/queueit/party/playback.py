"""Playback: the one advance path (host skip, song finished, crowd skip, autoplay), the
host's controls, and crowd skip."""

from __future__ import annotations

import uuid
from typing import Literal

import structlog

from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import (
    events,
    fallback,
    guards,
    presence,
    queue_repository,
    repository,
    roles,
    rules,
    snapshot,
)
from queueit.party.errors import NothingPlaying
from queueit.party.models import Party, SongStatus
from queueit.party.schemas import ControlIn, QueuedSongOut, SkipOut
from queueit.users.models import User

log = structlog.get_logger(__name__)


async def advance(
    uow: UnitOfWork,
    *,
    party: Party,
    outcome: Literal[SongStatus.played, SongStatus.skipped],
    crowdsourced: bool,
) -> QueuedSongOut | None:
    """Mark the current song, clear skip requests, top the queue up from the fallback source,
    start the next song by the queue order. The caller holds the party's row lock, so
    concurrent advances happen exactly once."""
    db = uow.session
    now = utcnow()
    if party.current_song_id is not None:
        await queue_repository.finish(db, party.current_song_id, outcome, now)
    await repository.clear_skip_requests(db, party.id)
    # Before the pick, under the same lock: racing advances fill once (docs/DOMAIN.md).
    await fallback.fill(uow, party)
    upcoming = await queue_repository.next_song(db, party.id, fair=rules.fair_play(party))
    if upcoming is not None:
        await queue_repository.start(db, upcoming.id, now)
    party.current_song_id = upcoming.id if upcoming is not None else None
    party.last_skip_was_crowdsourced = crowdsourced
    version = await repository.bump_version(db, party)
    current = await snapshot.song_out(uow, upcoming.id) if upcoming is not None else None
    uow.publish(events.now_playing_updated(party.id, version, current, crowdsourced=crowdsourced))
    uow.publish(await events.queue_updated(db, party.id, version))
    uow.publish(await events.party_updated(uow, party))
    log.info(
        "advanced",
        session_id=str(party.id),
        outcome=outcome.value,
        crowdsourced=crowdsourced,
        next=str(upcoming.id) if upcoming else None,
    )
    return current


async def control(uow: UnitOfWork, *, actor: User, body: ControlIn) -> None:
    """Lock or unlock adding for guests, pause or resume, skip the current track (the host
    or a co-host; party/roles.py)."""
    party = await guards.locked_party_of(uow, actor)
    role = await roles.role_of(uow, party, actor)
    asked = [
        action
        for value, action in (
            (body.is_locked, roles.Action.LOCK),
            (body.pause_playback, roles.Action.PAUSE),
            (body.skip_current_track, roles.Action.SKIP),
        )
        if value is not None
    ]
    for action in asked or [roles.Action.LOCK]:  # an empty body is still a host control
        roles.require(role, action)
    changed = False
    if body.is_locked is not None and body.is_locked != party.is_locked:
        party.is_locked = body.is_locked
        changed = True
    if body.pause_playback is not None and body.pause_playback != party.is_paused:
        party.is_paused = body.pause_playback
        changed = True
    if body.skip_current_track:
        await advance(uow, party=party, outcome=SongStatus.skipped, crowdsourced=False)
    elif changed:
        await announce(uow, party)


async def announce(uow: UnitOfWork, party: Party) -> None:
    """A change of flags or of the people in the party: a new version, `session.updated`."""
    await repository.bump_version(uow.session, party)
    uow.publish(await events.party_updated(uow, party))


async def song_finished(uow: UnitOfWork, *, actor: User, queued_song_id: uuid.UUID | None) -> None:
    """The host's player finished a song. Idempotent: when the given song is no longer the
    current one, nothing happens (clients retry)."""
    party, _ = await guards.managed_party(uow, actor, roles.Action.FINISH_SONG)
    if queued_song_id is not None and party.current_song_id != queued_song_id:
        log.info("song_finished_ignored", session_id=str(party.id))
        return
    await advance(uow, party=party, outcome=SongStatus.played, crowdsourced=False)


async def _skip_state(uow: UnitOfWork, party: Party, actor: User) -> tuple[int, int, bool]:
    crowd = presence.crowd(uow)
    participants = await repository.participant_count(uow.session, party, crowd)
    count, requested = await repository.skip_state(uow.session, party, actor.id, crowd)
    return count, participants, requested


async def request_skip(uow: UnitOfWork, *, actor: User) -> SkipOut:
    """Ask to skip the current song; more than half of the participants asking skips it."""
    party = await guards.locked_party_of(uow, actor)
    if party.current_song_id is None:
        raise NothingPlaying()
    count, participants, requested = await _skip_state(uow, party, actor)
    if not requested:
        await repository.add_skip_request(uow.session, party=party, user_id=actor.id)
        # Recounted, not +1: a fresh member's request, or one more from an address already
        # counted in full, does not move the count (docs/DOMAIN.md "Crowds and addresses").
        count, participants, _ = await _skip_state(uow, party, actor)
        if count * 2 > participants:
            await advance(uow, party=party, outcome=SongStatus.skipped, crowdsourced=True)
            log.info(
                "crowd_skip", session_id=str(party.id), requests=count, participants=participants
            )
            return SkipOut(skip_request_count=0, participant_count=participants, skipped=True)
        await announce(uow, party)
    return SkipOut(skip_request_count=count, participant_count=participants, skipped=False)


async def withdraw_skip(uow: UnitOfWork, *, actor: User) -> SkipOut:
    party = await guards.locked_party_of(uow, actor)
    if await repository.withdraw_skip_request(uow.session, party_id=party.id, user_id=actor.id):
        await announce(uow, party)
    count, participants, _ = await _skip_state(uow, party, actor)
    return SkipOut(skip_request_count=count, participant_count=participants, skipped=False)
