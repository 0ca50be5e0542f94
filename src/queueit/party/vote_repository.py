"""SQL of a vote (party/voting.py has the rule): the party's row lock, the song row-locked
with the caller's vote on it, the vote row, the song's total and tier metadata, the party's
version. Core statements on the tables, built once with bind parameters, the same on SQLite
and PostgreSQL: a vote is the hottest write, and building ORM instances, tracking them in the
identity map and flushing them cost more CPU than the SQL itself (docs/BENCHMARKS.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, Uuid, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.party.models import Party, QueuedSong, SongStatus, Vote

_parties = cast(Table, Party.__table__)
_songs = cast(Table, QueuedSong.__table__)
_votes = cast(Table, Vote.__table__)


@dataclass(frozen=True, slots=True)
class LockedParty:
    """What a vote needs of the party, read with its row lock."""

    id: uuid.UUID
    host_id: uuid.UUID | None
    ended_at: datetime | None
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ballot:
    """A queued song as a vote finds it (row-locked), with the voter's vote on it (None:
    no vote yet)."""

    id: uuid.UUID
    status: SongStatus
    votes: int
    is_fallback: bool
    existing: int | None


@dataclass(frozen=True, slots=True)
class Tally:
    """A song's votes after a change, as the update returned them (votes.updated's data)."""

    queued_song_id: uuid.UUID
    total_votes: int
    entered_tier_by_gain: bool
    last_entered_tier_at: datetime
    is_fallback: bool


_LOCK_PARTY = (
    select(_parties.c.host_id, _parties.c.ended_at, _parties.c.settings)
    .where(_parties.c.id == bindparam("party_id", type_=Uuid()))
    .with_for_update()
)


async def lock_party(db: AsyncSession, party_id: uuid.UUID) -> LockedParty | None:
    """The party row, locked for the rest of the transaction (as repository.lock: changes to
    one party are serialised, the party always locked first)."""
    row = (await db.execute(_LOCK_PARTY, {"party_id": party_id})).first()
    if row is None:
        return None
    return LockedParty(party_id, row.host_id, row.ended_at, row.settings or {})


_LOCK_BALLOT = (
    select(_songs.c.status, _songs.c.votes, _songs.c.is_fallback, _votes.c.value)
    .outerjoin(
        _votes,
        (_votes.c.queued_song_id == _songs.c.id)
        & (_votes.c.user_id == bindparam("user_id", type_=Uuid())),
    )
    .where(
        _songs.c.id == bindparam("queued_song_id", type_=Uuid()),
        _songs.c.session_id == bindparam("party_id", type_=Uuid()),
    )
    .with_for_update(of=_songs)
)


async def lock_ballot(
    db: AsyncSession, queued_song_id: uuid.UUID, party_id: uuid.UUID, user_id: uuid.UUID
) -> Ballot | None:
    """The queued song, row-locked, with `user_id`'s vote on it, only when it belongs to
    `party_id` (others look absent)."""
    params = {"queued_song_id": queued_song_id, "party_id": party_id, "user_id": user_id}
    row = (await db.execute(_LOCK_BALLOT, params)).first()
    if row is None:
        return None
    existing = int(row.value) if row.value is not None else None
    return Ballot(queued_song_id, SongStatus(row.status), row.votes, row.is_fallback, existing)


def _put_vote(insert: Any) -> Any:
    statement = insert(_votes).values(
        queued_song_id=bindparam("queued_song_id"),
        user_id=bindparam("user_id"),
        value=bindparam("value"),
        created_at=bindparam("at"),
        updated_at=bindparam("at"),
    )
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["queued_song_id", "user_id"],
        set_={"value": excluded.value, "updated_at": excluded.updated_at},
    )


_PUT_VOTE = {"postgresql": _put_vote(pg_insert), "sqlite": _put_vote(sqlite_insert)}
_DELETE_VOTE = delete(_votes).where(
    _votes.c.queued_song_id == bindparam("queued_song_id", type_=Uuid()),
    _votes.c.user_id == bindparam("user_id", type_=Uuid()),
)


async def put_vote(
    db: AsyncSession, queued_song_id: uuid.UUID, user_id: uuid.UUID, value: int, at: datetime
) -> None:
    """Cast or change the vote (one row per member and song: the primary key)."""
    params = {"queued_song_id": queued_song_id, "user_id": user_id, "value": value, "at": at}
    await db.execute(_PUT_VOTE[db.get_bind().dialect.name], params)


async def delete_vote(db: AsyncSession, queued_song_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await db.execute(_DELETE_VOTE, {"queued_song_id": queued_song_id, "user_id": user_id})


_TALLY = (
    update(_songs)
    .where(_songs.c.id == bindparam("queued_song_id", type_=Uuid()))
    .values(
        votes=_songs.c.votes + bindparam("delta", type_=Integer()),
        entered_tier_by_gain=bindparam("gain"),
        last_entered_tier_at=bindparam("at"),
        is_fallback=bindparam("is_fallback"),
    )
    .returning(_songs.c.votes, _songs.c.last_entered_tier_at)
)


async def tally(
    db: AsyncSession, song: Ballot, *, delta: int, is_fallback: bool, at: datetime
) -> Tally:
    """The song's total moves by `delta`; it entered its new tier at `at`, by a gain when
    `delta` > 0 (party/ordering.py)."""
    params = {
        "queued_song_id": song.id,
        "delta": delta,
        "gain": delta > 0,
        "at": at,
        "is_fallback": is_fallback,
    }
    row = (await db.execute(_TALLY, params)).one()
    return Tally(song.id, row.votes, delta > 0, row.last_entered_tier_at, is_fallback)


_BUMP_VERSION = (
    update(_parties)
    .where(_parties.c.id == bindparam("party_id", type_=Uuid()))
    .values(
        version=_parties.c.version + 1,
        last_activity_at=bindparam("at"),
    )
    .returning(_parties.c.version)
)


async def bump_version(db: AsyncSession, party_id: uuid.UUID, at: datetime) -> int:
    """The party changed: its version goes up by one, in the change's transaction (as
    repository.bump_version, for a party locked by `lock_party`, which holds no ORM
    instance to keep in step)."""
    return int((await db.execute(_BUMP_VERSION, {"party_id": party_id, "at": at})).scalar_one())
