"""Queue rules: adding songs, votes, removal, and the one advance path."""

from __future__ import annotations

import uuid
from typing import Literal, Protocol

import structlog

from queueit.catalog.schemas import Track
from queueit.core import errors
from queueit.core.db import UnitOfWork, utcnow
from queueit.queue import events, repository
from queueit.queue.models import QueuedSong, SongStatus
from queueit.queue.schemas import QueuedSongOut, VoteOut
from queueit.queue.views import queued_song_out
from queueit.sessions import events as session_events
from queueit.sessions import repository as sessions_repository
from queueit.sessions.errors import NoActiveSession, SessionLocked
from queueit.sessions.models import Session
from queueit.users.models import User

log = structlog.get_logger(__name__)


class SongNotFound(errors.NotFound):
    code, detail = "song_not_found", "No such song in your party's queue."


class SongNotVotable(errors.Conflict):
    code, detail = "song_not_votable", "Only songs waiting in the queue can be voted on."


class SongNotRemovable(errors.Conflict):
    code, detail = "song_not_removable", "Only songs waiting in the queue can be removed."


class NotAllowedToRemove(errors.Forbidden):
    code = "not_allowed_to_remove"
    detail = "Only the host, or the person who added it while nobody else voted, can remove it."


class QueueFull(errors.Conflict):
    code, detail = "queue_full", "The queue is full."


class SongLimitReached(errors.Conflict):
    code, detail = "song_limit_reached", "You have queued as many songs as a guest may."


class Resolver(Protocol):
    async def resolve_for_host(
        self, track: Track, *, host_provider: str, storefront: str
    ) -> Track: ...


async def locked_session_of(uow: UnitOfWork, actor: User) -> Session:
    """The caller's active session, row-locked (every change to a party starts here)."""
    if actor.current_session_id is None:
        raise NoActiveSession()
    session = await sessions_repository.lock(uow.session, actor.current_session_id)
    if session is None or session.ended_at is not None:
        raise NoActiveSession()
    return session


async def song_out(uow: UnitOfWork, queued_song_id: uuid.UUID) -> QueuedSongOut:
    row = await repository.song_row(uow.session, queued_song_id)
    assert row is not None
    return queued_song_out(row)


async def _apply_vote(
    uow: UnitOfWork, song: QueuedSong, user_id: uuid.UUID, value: int | None
) -> bool:
    """Cast, change or withdraw (None) a vote; False when nothing changed. Tier metadata moves
    only when the total does (re-casting the same vote changes nothing)."""
    db = uow.session
    existing = await repository.get_vote(db, song.id, user_id)
    if existing == value:
        return False
    if value is None:
        await repository.delete_vote(db, song.id, user_id)
    else:
        await repository.put_vote(db, song.id, user_id, value)
    delta = (value or 0) - (existing or 0)
    song.votes += delta
    song.entered_tier_by_gain = delta > 0
    song.last_entered_tier_at = utcnow()
    await db.flush()
    return True


async def vote(
    uow: UnitOfWork, *, actor: User, queued_song_id: uuid.UUID, value: int | None
) -> VoteOut:
    """Cast (+1/-1), change, or withdraw (None) the caller's vote on a queued song."""
    session = await locked_session_of(uow, actor)
    song = await repository.lock_in_session(uow.session, queued_song_id, session.id)
    if song is None:
        raise SongNotFound()
    if song.status != SongStatus.queued:
        raise SongNotVotable()
    if await _apply_vote(uow, song, actor.id, value):
        version = await sessions_repository.bump_version(session, uow.session)
        uow.publish(events.votes_updated(session.id, version, song))
        log.info(
            "vote_cast",
            session_id=str(session.id),
            queued_song_id=str(song.id),
            value=value,
            total=song.votes,
        )
    return VoteOut(total_votes=song.votes)


async def add_song(
    uow: UnitOfWork,
    *,
    actor: User,
    track: Track,
    catalog: Resolver | None,
    max_queue_length: int,
    max_songs_per_guest: int,
) -> QueuedSongOut:
    """Queue a track (resolved to the host's catalog); re-adding a queued track is an upvote;
    the first song of an idle party starts playing at once."""
    if actor.current_session_id is None:
        raise NoActiveSession()
    party = await sessions_repository.get(uow.session, actor.current_session_id)
    if party is None or party.ended_at is not None:
        raise NoActiveSession()
    if catalog is not None:  # network I/O happens before any lock is taken
        track = await catalog.resolve_for_host(
            track, host_provider=party.host_provider, storefront=party.host_storefront
        )
    session = await locked_session_of(uow, actor)
    is_host = actor.id == session.host_id
    if session.is_locked and not is_host:
        raise SessionLocked()
    db = uow.session
    song_id = await repository.upsert_song(db, track)
    existing = await repository.find_queued(db, session.id, song_id)
    if existing is not None:
        if await _apply_vote(uow, existing, actor.id, 1):
            version = await sessions_repository.bump_version(session, db)
            uow.publish(events.votes_updated(session.id, version, existing))
        return await song_out(uow, existing.id)
    if await repository.queue_total(db, session.id) >= max_queue_length:
        raise QueueFull(f"The queue is full ({max_queue_length} songs).")
    if (
        not is_host
        and await repository.count_added_by(db, session.id, actor.id) >= max_songs_per_guest
    ):
        raise SongLimitReached(f"A guest may have {max_songs_per_guest} songs waiting at once.")
    queued = await repository.insert_queued(
        db, session_id=session.id, song_id=song_id, user_id=actor.id
    )
    if session.current_song_id is None:
        await advance(uow, session=session, outcome=SongStatus.played, crowdsourced=False)
    else:
        version = await sessions_repository.bump_version(session, db)
        uow.publish(await events.queue_updated(db, session.id, version))
    log.info("song_added", session_id=str(session.id), queued_song_id=str(queued.id))
    return await song_out(uow, queued.id)


async def remove_song(uow: UnitOfWork, *, actor: User, queued_song_id: uuid.UUID) -> None:
    """The host removes any queued song; the adder removes theirs while no one else voted."""
    session = await locked_session_of(uow, actor)
    song = await repository.lock_in_session(uow.session, queued_song_id, session.id)
    if song is None:
        raise SongNotFound()
    if actor.id != session.host_id:
        if song.added_by_id != actor.id:
            raise NotAllowedToRemove()
        if await repository.has_votes_from_others(uow.session, song.id, actor.id):
            raise NotAllowedToRemove("Others have voted on this song; only the host can remove it.")
    if song.status != SongStatus.queued:
        raise SongNotRemovable()
    await repository.remove(uow.session, song.id, utcnow())
    version = await sessions_repository.bump_version(session, uow.session)
    uow.publish(await events.queue_updated(uow.session, session.id, version))


async def advance(
    uow: UnitOfWork,
    *,
    session: Session,
    outcome: Literal[SongStatus.played, SongStatus.skipped],
    crowdsourced: bool,
) -> QueuedSongOut | None:
    """The one advance path (host skip, song finished, crowd skip, autoplay): mark the current
    song, clear skip requests, start the next song by the queue order. The caller holds the
    session's row lock, so concurrent advances happen exactly once."""
    db = uow.session
    now = utcnow()
    if session.current_song_id is not None:
        await repository.finish(db, session.current_song_id, outcome, now)
    await sessions_repository.clear_skip_requests(db, session.id)
    upcoming = await repository.next_song(db, session.id)
    if upcoming is not None:
        await repository.start(db, upcoming.id, now)
    session.current_song_id = upcoming.id if upcoming is not None else None
    session.last_skip_was_crowdsourced = crowdsourced
    version = await sessions_repository.bump_version(session, db)
    current = await song_out(uow, upcoming.id) if upcoming is not None else None
    uow.publish(events.now_playing_updated(session.id, version, current, crowdsourced=crowdsourced))
    uow.publish(await events.queue_updated(db, session.id, version))
    uow.publish(
        await session_events.session_updated(
            db, session, presence_ttl_seconds=uow.presence_ttl_seconds
        )
    )
    log.info(
        "advanced",
        session_id=str(session.id),
        outcome=outcome.value,
        crowdsourced=crowdsourced,
        next=str(upcoming.id) if upcoming else None,
    )
    return current


async def withdraw_all_votes(uow: UnitOfWork, *, user_id: uuid.UUID) -> None:
    """Take back every vote the user has on songs still queued (account deletion)."""
    db = uow.session
    votes = await repository.user_votes_in_queue(db, user_id)
    songs = {}
    for song_id, _ in votes:
        row = await repository.song_row(db, song_id)
        if row is not None:
            songs[song_id] = row[0].session_id
    for session_id in sorted(set(songs.values())):
        session = await sessions_repository.lock(db, session_id)
        if session is None:
            continue
        changed = []
        for song_id in sorted(s for s, sid in songs.items() if sid == session_id):
            song = await repository.lock_in_session(db, song_id, session_id)
            if song is not None and await _apply_vote(uow, song, user_id, None):
                changed.append(song)
        if changed:
            version = await sessions_repository.bump_version(session, db)
            for song in changed:
                uow.publish(events.votes_updated(session_id, version, song))
