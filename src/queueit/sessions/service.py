"""Session lifecycle: create, join, leave, the current-state snapshot, end, idle expiry."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError

from queueit.core.db import UnitOfWork, utcnow
from queueit.queue import repository as queue_repository
from queueit.queue import service as queue_service
from queueit.queue.models import SongStatus
from queueit.queue.schemas import QueuePage
from queueit.queue.views import queued_song_out, user_of
from queueit.sessions import events, repository
from queueit.sessions.errors import (
    GuestCannotHost,
    JoinCodeTaken,
    NoActiveSession,
    NoMusicProvider,
    NotMember,
    SessionNotFound,
)
from queueit.sessions.models import Session
from queueit.sessions.schemas import CurrentSessionOut, SessionBaseOut
from queueit.users.models import MusicProvider, User

log = structlog.get_logger(__name__)

# No look-alikes (0/O, 1/I/L): codes are read aloud and typed from a screen.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATED_CODE_LENGTH = 6
GENERATE_ATTEMPTS = 8


def generate_join_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))


async def snapshot(
    uow: UnitOfWork,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    queue_limit: int = 100,
    queue_offset: int = 0,
) -> CurrentSessionOut:
    """The CurrentSession a member sees: a constant number of statements whatever the queue size."""
    db = uow.session
    found = await repository.with_host(db, session_id)
    if found is None or found[0].ended_at is not None:
        raise NoActiveSession()
    session, host = found
    current = None
    if session.current_song_id is not None:
        row = await queue_repository.song_row(db, session.current_song_id)
        current = queued_song_out(row) if row is not None else None
    rows = await queue_repository.queue_page(db, session.id, limit=queue_limit, offset=queue_offset)
    cutoff = utcnow() - timedelta(seconds=uow.presence_ttl_seconds)
    counts = await repository.counts(db, session, user_id, cutoff=cutoff)
    return CurrentSessionOut(
        session=_base(session, host),
        current_song=current,
        queue=[queued_song_out(row) for row in rows],
        queue_total=counts.queue_total,
        my_votes=await queue_repository.my_votes(db, session.id, user_id),
        skip_request_count=counts.skip_request_count,
        participant_count=counts.participant_count,
        user_requested_skip=counts.user_requested_skip,
        last_skip_was_crowdsourced=session.last_skip_was_crowdsourced,
    )


async def current(
    uow: UnitOfWork, *, actor: User, queue_limit: int, queue_offset: int
) -> CurrentSessionOut:
    """The party the caller is in (404 `no_active_session` when none, or it ended)."""
    if actor.current_session_id is None:
        raise NoActiveSession()
    return await snapshot(
        uow,
        session_id=actor.current_session_id,
        user_id=actor.id,
        queue_limit=queue_limit,
        queue_offset=queue_offset,
    )


def _base(session: Session, host: User | None) -> SessionBaseOut:
    return SessionBaseOut(
        id=session.id,
        join_code=session.join_code,
        created_at=session.created_at,
        host=user_of(host),
        host_provider=session.host_provider,
        is_locked=session.is_locked,
        is_paused=session.is_paused,
        ended_at=session.ended_at,
        version=session.version,
    )


async def create_session(
    uow: UnitOfWork, *, actor: User, join_code: str | None
) -> CurrentSessionOut:
    """Open a party hosted by the caller (non-anonymous, with a music provider)."""
    if actor.is_anonymous:
        raise GuestCannotHost()
    if actor.music_provider == MusicProvider.none:
        raise NoMusicProvider()
    await leave(uow, actor=actor)
    session = await _insert_with_code(uow, actor=actor, join_code=join_code)
    await repository.set_membership(uow.session, actor, session.id)
    log.info("session_created", session_id=str(session.id), join_code=session.join_code)
    return await snapshot(uow, session_id=session.id, user_id=actor.id)


async def _insert_with_code(uow: UnitOfWork, *, actor: User, join_code: str | None) -> Session:
    """The unique index on active join codes settles races; a generated code is retried."""
    attempts = 1 if join_code else GENERATE_ATTEMPTS
    for _ in range(attempts):
        session = Session(
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
            await repository.insert(uow.session, session)
        except IntegrityError:
            continue
        return session
    if join_code:
        raise JoinCodeTaken(f"The join code {join_code} is in use by another party.")
    raise JoinCodeTaken("Could not find a free join code; try again.")


async def join_session(uow: UnitOfWork, *, actor: User, join_code: str) -> CurrentSessionOut:
    """Join the active party with this code (case-insensitive), leaving any other first."""
    found = await repository.active_by_code(uow.session, join_code)
    if found is None:
        raise SessionNotFound()
    if actor.current_session_id != found.id:
        await leave(uow, actor=actor)
        session = await repository.lock(uow.session, found.id)
        if session is None or session.ended_at is not None:
            raise SessionNotFound()
        await repository.set_membership(uow.session, actor, session.id)
        await _announce_presence(uow, session)
        log.info("session_joined", session_id=str(session.id), user_id=str(actor.id))
    return await snapshot(uow, session_id=found.id, user_id=actor.id)


async def leave(uow: UnitOfWork, *, actor: User) -> None:
    """Leave the current party (if any): withdraw a pending skip request, tell the others."""
    if actor.current_session_id is None:
        return
    session = await repository.lock(uow.session, actor.current_session_id)
    await repository.set_membership(uow.session, actor, None)
    if session is None or session.ended_at is not None:
        return
    await repository.withdraw_skip_request(uow.session, session_id=session.id, user_id=actor.id)
    await _announce_presence(uow, session)
    # Internal: tells every instance's hub to close this user's sockets for the party (4403).
    uow.publish(events.member_left(session, actor.id))
    log.info("session_left", session_id=str(session.id), user_id=str(actor.id))


async def _announce_presence(uow: UnitOfWork, session: Session) -> None:
    await repository.bump_version(session, uow.session)
    uow.publish(
        await events.session_updated(
            uow.session, session, presence_ttl_seconds=uow.presence_ttl_seconds
        )
    )


async def member_session(uow: UnitOfWork, *, actor: User, session_id: uuid.UUID) -> Session:
    session = await repository.get(uow.session, session_id)
    if session is None:
        raise NoActiveSession("No such party.")
    if actor.current_session_id != session.id:
        raise NotMember()
    if session.ended_at is not None:
        raise NoActiveSession()
    return session


async def queue_page(
    uow: UnitOfWork, *, actor: User, session_id: uuid.UUID, limit: int, offset: int
) -> QueuePage:
    session = await member_session(uow, actor=actor, session_id=session_id)
    rows = await queue_repository.queue_page(uow.session, session.id, limit=limit, offset=offset)
    total = await queue_repository.queue_total(uow.session, session.id)
    return QueuePage(
        items=[queued_song_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


async def history_page(
    uow: UnitOfWork, *, actor: User, session_id: uuid.UUID, limit: int, offset: int
) -> QueuePage:
    session = await member_session(uow, actor=actor, session_id=session_id)
    rows, total = await queue_repository.history_page(
        uow.session, session.id, limit=limit, offset=offset
    )
    return QueuePage(
        items=[queued_song_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


async def end_session(uow: UnitOfWork, *, session: Session, reason: str) -> None:
    """End a party (caller holds its lock): the playing song counts as played, members are
    released, the code is freed, everyone gets `session.ended`."""
    db = uow.session
    now = utcnow()
    if session.current_song_id is not None:
        await queue_repository.finish(db, session.current_song_id, SongStatus.played, now)
    await repository.clear_skip_requests(db, session.id)
    await repository.release_members(db, session.id)
    session.ended_at = now
    session.end_reason = reason
    await repository.bump_version(session, db)
    uow.publish(events.session_ended(session))
    log.info("session_ended", session_id=str(session.id), reason=reason)


async def forget_user(uow: UnitOfWork, *, user: User) -> None:
    """Before an account is deleted: leave, withdraw votes, end hosted parties."""
    await leave(uow, actor=user)
    await queue_service.withdraw_all_votes(uow, user_id=user.id)
    for session_id in await repository.hosted_active(uow.session, user.id):
        session = await repository.lock(uow.session, session_id)
        if session is not None and session.ended_at is None:
            await end_session(uow, session=session, reason="host_deleted")


async def expire_idle(uow: UnitOfWork, *, idle_hours: float) -> int:
    """End parties with no activity for `idle_hours`; returns how many were ended."""
    cutoff = utcnow() - timedelta(hours=idle_hours)
    ended = 0
    for session_id in await repository.idle_sessions(uow.session, cutoff=cutoff):
        session = await repository.lock(uow.session, session_id)
        if session is not None and session.ended_at is None and session.last_activity_at < cutoff:
            await end_session(uow, session=session, reason="idle")
            ended += 1
    return ended
