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

from sqlalchemy import Integer, Table, Uuid, bindparam, delete, select, true, update
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


@dataclass(frozen=True, slots=True)
class VoteChange:
    """What one vote changes, as party/voting.py decided it: `user_id`'s vote row (None:
    withdrawn), the song's total by `delta`, the tier it entered at `at` (by a gain when
    `delta` > 0, party/ordering.py) and its fallback flag."""

    queued_song_id: uuid.UUID
    user_id: uuid.UUID
    value: int | None
    delta: int
    is_fallback: bool
    at: datetime


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
_BUMP_VERSION = (
    update(_parties)
    .where(_parties.c.id == bindparam("party_id", type_=Uuid()))
    .values(version=_parties.c.version + 1, last_activity_at=bindparam("at"))
    .returning(_parties.c.version)
)


def _tally_and_bump() -> Any:
    """PostgreSQL: the tally and the version bump as data-modifying CTEs of one statement
    (one round trip fewer under the party's lock); each part is the statement SQLite runs on
    its own. The vote row is written first, by a statement of its own: row-level security's
    guard on queued_songs checks the new total against the vote rows it can see (docs/RLS.md),
    and a CTE of the same statement would not be visible to it yet."""
    song = _TALLY.cte("song")
    party = _BUMP_VERSION.cte("party")
    columns = (song.c.votes, song.c.last_entered_tier_at, party.c.version)
    return select(*columns).select_from(song.join(party, true()))


_PG_TALLY_AND_BUMP = _tally_and_bump()


async def record(db: AsyncSession, change: VoteChange) -> Tally:
    """Write `change`: the vote row, the song's total and tier (as the update returns them);
    the caller bumps the party's version (once for several changes)."""
    tally, _ = await _record(db, change, party_id=None)
    return tally


async def record_and_bump(
    db: AsyncSession, change: VoteChange, *, party_id: uuid.UUID
) -> tuple[Tally, int]:
    """`record`, and the party's version + 1 (returned), in the same transaction: on
    PostgreSQL the tally and the version in one statement, on SQLite one after the other."""
    tally, version = await _record(db, change, party_id=party_id)
    assert version is not None
    return tally, version


async def _record(
    db: AsyncSession, change: VoteChange, *, party_id: uuid.UUID | None
) -> tuple[Tally, int | None]:
    params = {
        "queued_song_id": change.queued_song_id,
        "user_id": change.user_id,
        "value": change.value,
        "at": change.at,
        "delta": change.delta,
        "gain": change.delta > 0,
        "is_fallback": change.is_fallback,
        "party_id": party_id,
    }
    version: int | None = None
    dialect = db.get_bind().dialect.name
    await db.execute(_DELETE_VOTE if change.value is None else _PUT_VOTE[dialect], params)
    if party_id is not None and dialect == "postgresql":
        row = (await db.execute(_PG_TALLY_AND_BUMP, params)).one()
        version = int(row.version)
    else:
        row = (await db.execute(_TALLY, params)).one()
        if party_id is not None:
            version = int((await db.execute(_BUMP_VERSION, params)).scalar_one())
    tally = Tally(
        change.queued_song_id,
        int(row.votes),
        change.delta > 0,
        row.last_entered_tier_at,
        change.is_fallback,
    )
    return tally, version
