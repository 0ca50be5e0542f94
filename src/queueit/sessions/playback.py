"""Host controls and crowd skip: lock, pause, skip, song finished, end, skip requests."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog

from queueit.core.db import UnitOfWork, utcnow
from queueit.queue import service as queue_service
from queueit.queue.models import SongStatus
from queueit.sessions import events, repository
from queueit.sessions import service as sessions_service
from queueit.sessions.errors import NothingPlaying, NotHost
from queueit.sessions.models import Session
from queueit.sessions.schemas import ControlIn, SkipOut
from queueit.users.models import User

log = structlog.get_logger(__name__)


async def _hosted(uow: UnitOfWork, actor: User) -> Session:
    session = await queue_service.locked_session_of(uow, actor)
    if session.host_id != actor.id:
        raise NotHost()
    return session


async def control(uow: UnitOfWork, *, actor: User, body: ControlIn) -> None:
    """Lock or unlock adding for guests, pause or resume, skip the current track."""
    session = await _hosted(uow, actor)
    changed = False
    if body.is_locked is not None and body.is_locked != session.is_locked:
        session.is_locked = body.is_locked
        changed = True
    if body.pause_playback is not None and body.pause_playback != session.is_paused:
        session.is_paused = body.pause_playback
        changed = True
    if body.skip_current_track:
        await queue_service.advance(
            uow, session=session, outcome=SongStatus.skipped, crowdsourced=False
        )
    elif changed:
        await repository.bump_version(session, uow.session)
        uow.publish(
            await events.session_updated(
                uow.session, session, presence_ttl_seconds=uow.presence_ttl_seconds
            )
        )


async def song_finished(uow: UnitOfWork, *, actor: User, queued_song_id: uuid.UUID | None) -> None:
    """The host's player finished a song. Idempotent: when the given song is no longer the
    current one, nothing happens (clients retry)."""
    session = await _hosted(uow, actor)
    if queued_song_id is not None and session.current_song_id != queued_song_id:
        log.info("song_finished_ignored", session_id=str(session.id))
        return
    await queue_service.advance(uow, session=session, outcome=SongStatus.played, crowdsourced=False)


async def end(uow: UnitOfWork, *, actor: User) -> None:
    session = await _hosted(uow, actor)
    await sessions_service.end_session(uow, session=session, reason="ended_by_host")


async def _skip_state(uow: UnitOfWork, session: Session, actor: User) -> tuple[int, int, bool]:
    cutoff = utcnow() - timedelta(seconds=uow.presence_ttl_seconds)
    participants = await repository.participant_count(uow.session, session, cutoff=cutoff)
    count, requested = await repository.skip_state(uow.session, session, actor.id)
    return count, participants, requested


async def request_skip(uow: UnitOfWork, *, actor: User) -> SkipOut:
    """Ask to skip the current song; more than half of the participants asking skips it."""
    session = await queue_service.locked_session_of(uow, actor)
    if session.current_song_id is None:
        raise NothingPlaying()
    count, participants, requested = await _skip_state(uow, session, actor)
    if not requested:
        await repository.add_skip_request(uow.session, session=session, user_id=actor.id)
        count += 1
        if count * 2 > participants:
            await queue_service.advance(
                uow, session=session, outcome=SongStatus.skipped, crowdsourced=True
            )
            log.info(
                "crowd_skip", session_id=str(session.id), requests=count, participants=participants
            )
            return SkipOut(skip_request_count=0, participant_count=participants, skipped=True)
        await repository.bump_version(session, uow.session)
        uow.publish(
            await events.session_updated(
                uow.session, session, presence_ttl_seconds=uow.presence_ttl_seconds
            )
        )
    return SkipOut(skip_request_count=count, participant_count=participants, skipped=False)


async def withdraw_skip(uow: UnitOfWork, *, actor: User) -> SkipOut:
    session = await queue_service.locked_session_of(uow, actor)
    if await repository.withdraw_skip_request(uow.session, session_id=session.id, user_id=actor.id):
        await repository.bump_version(session, uow.session)
        uow.publish(
            await events.session_updated(
                uow.session, session, presence_ttl_seconds=uow.presence_ttl_seconds
            )
        )
    count, participants, _ = await _skip_state(uow, session, actor)
    return SkipOut(skip_request_count=count, participant_count=participants, skipped=False)
