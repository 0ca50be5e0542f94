"""SQL for parties: their rows and versions, membership, presence, skip requests. (The
queue's SQL, with the one ordering rule, is in queue_repository.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Uuid,
    bindparam,
    case,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from queueit.core.engine import insert_for
from queueit.core.types import UTCDateTime, utcnow
from queueit.party.models import Party, QueuedSong, SkipRequest, SongStatus
from queueit.users.models import User

# Keeps every IN (...) list well under SQLite's and asyncpg's bind-parameter limits.
CHUNK = 1000


# -- party rows ------------------------------------------------------------------------------


async def get(db: AsyncSession, party_id: uuid.UUID) -> Party | None:
    return await db.get(Party, party_id)


async def lock(db: AsyncSession, party_id: uuid.UUID) -> Party | None:
    """The party row, locked for the rest of the transaction (every change to a party starts
    here, so changes to one party are serialised and the lock order is always party first)."""
    query = (
        select(Party)
        .where(Party.id == party_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def active_by_code(db: AsyncSession, join_code: str) -> Party | None:
    """The join path. On PostgreSQL the code is presented to row-level security first
    (transaction-local): only then may a non-member read that party's row and put it in their
    profile (docs/RLS.md, migration 0004)."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(select(func.set_config("queueit.join_code", join_code, True)))
    query = select(Party).where(Party.join_code == join_code, Party.ended_at.is_(None))
    return (await db.execute(query)).scalar_one_or_none()


async def state(db: AsyncSession, party_id: uuid.UUID) -> str | None:
    """'active', 'ended' or None (no such party), whoever asks: on PostgreSQL through
    `queueit_rls.party_state`, which looks past row-level security at that one fact (a
    non-member cannot read the row, and is told 403 rather than a misleading 404)."""
    if db.get_bind().dialect.name == "postgresql":
        sid = bindparam("sid", party_id, type_=Uuid())
        found = await db.scalar(select(func.queueit_rls.party_state(sid)))
        return str(found) if found is not None else None
    ended = await db.execute(select(Party.ended_at).where(Party.id == party_id))
    row = ended.first()
    if row is None:
        return None
    return "active" if row[0] is None else "ended"


async def with_host(db: AsyncSession, party_id: uuid.UUID) -> tuple[Party, User | None] | None:
    query = (
        select(Party, User).outerjoin(User, User.id == Party.host_id).where(Party.id == party_id)
    )
    row = (await db.execute(query)).first()
    return (row[0], row[1]) if row else None


async def insert(db: AsyncSession, party: Party) -> None:
    """Insert inside a savepoint so a join-code collision can be retried or reported."""
    async with db.begin_nested():
        db.add(party)
        await db.flush()


async def bump_version(db: AsyncSession, party: Party) -> int:
    """The party changed: its version goes up by one, in the change's transaction."""
    party.version += 1
    party.last_activity_at = utcnow()
    await db.flush()
    return party.version


async def hosted_active(db: AsyncSession, user_id: uuid.UUID) -> Sequence[uuid.UUID]:
    query = select(Party.id).where(Party.host_id == user_id, Party.ended_at.is_(None))
    return list((await db.execute(query)).scalars())


async def idle(db: AsyncSession, *, cutoff: datetime, limit: int = 100) -> Sequence[uuid.UUID]:
    query = (
        select(Party.id)
        .where(Party.ended_at.is_(None), Party.last_activity_at < cutoff)
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())


async def count_active(db: AsyncSession) -> int:
    query = select(func.count()).select_from(Party).where(Party.ended_at.is_(None))
    return int(await db.scalar(query) or 0)


@dataclass(frozen=True, slots=True)
class PartyVersion:
    version: int
    ended: bool


def _chunks(ids: Collection[uuid.UUID]) -> list[list[uuid.UUID]]:
    ordered = sorted(ids)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


async def versions(
    db: AsyncSession, party_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, PartyVersion]:
    """Version and ended flag of each existing party (unknown ids are absent)."""
    found: dict[uuid.UUID, PartyVersion] = {}
    for chunk in _chunks(party_ids):
        query = select(Party.id, Party.version, Party.ended_at).where(Party.id.in_(chunk))
        for party_id, version, ended_at in await db.execute(query):
            found[party_id] = PartyVersion(version=version, ended=ended_at is not None)
    return found


# -- membership and presence ----------------------------------------------------------------


async def set_membership(
    db: AsyncSession, user: User, party_id: uuid.UUID | None, *, address: str | None = None
) -> None:
    """Join (`party_id`, from the keyed-hash `address`) or leave (None)."""
    if user.current_party_id is not None and user.current_party_id != party_id:
        user.previous_party_id = user.current_party_id
    if party_id is not None and party_id != user.current_party_id:
        user.joined_at = utcnow()
        user.join_address = address
    user.current_party_id = party_id
    user.last_active_at = utcnow()
    await db.flush()


async def on_host_network(db: AsyncSession, host_id: uuid.UUID | None, address: str | None) -> bool:
    """Whether `address` is the one the host (`host_id`) opened the party from."""
    if address is None or host_id is None:
        return False
    query = select(User.join_address).where(User.id == host_id)
    return (await db.execute(query)).scalar_one_or_none() == address


async def release_members(db: AsyncSession, party_id: uuid.UUID) -> None:
    await db.execute(
        update(User)
        .where(User.current_party_id == party_id)
        .values(current_party_id=None, previous_party_id=party_id)
    )


@dataclass(frozen=True, slots=True)
class Crowd:
    """Who counts for crowd skip (docs/DOMAIN.md "Crowds and addresses"): members present
    since `cutoff`, in the party since `established` (the host always counts), and at most
    `per_address` members per client address (0: no cap)."""

    cutoff: datetime
    established: datetime
    per_address: int

    @property
    def cap(self) -> int:
        return self.per_address if self.per_address > 0 else 1_000_000_000


def _address_group() -> Any:
    """Members are grouped by the address they joined from; the host, anyone on the host's
    network (the address the host opened the party from: a house party's Wi-Fi) and anyone
    without a recorded address are each a group of their own."""
    own = cast(User.id, String(36))
    host = aliased(User)
    host_address = (
        select(host.join_address)
        .where(host.id == bindparam("host_id", type_=Uuid()))
        .scalar_subquery()
    )
    return case(
        (User.id == bindparam("host_id", type_=Uuid()), own),
        (User.join_address == host_address, own),
        else_=func.coalesce(User.join_address, own),
    )


def _capped_sum(grouped: Any) -> Any:
    """sum(min(members of a group, cap)) over the groups of `grouped` (a subquery of `n`)."""
    cap: Any = bindparam("cap", type_=Integer())
    return select(func.coalesce(func.sum(case((grouped.c.n > cap, cap), else_=grouped.c.n)), 0))


def _established() -> Any:
    return or_(
        User.id == bindparam("host_id", type_=Uuid()),
        User.joined_at.is_(None),  # joined before join times were recorded
        User.joined_at <= bindparam("established", type_=UTCDateTime()),
    )


def _members_query(*, has_host: bool) -> Any:
    """Counted participants other than the host (the host adds 1)."""
    members = select(func.count().label("n")).where(
        User.current_party_id == bindparam("party_id"),
        User.last_active_at >= bindparam("cutoff", type_=UTCDateTime()),
        _established(),
    )
    if has_host:
        members = members.where(User.id != bindparam("host_id", type_=Uuid()))
    return _capped_sum(members.group_by(_address_group()).subquery())


def _skips_query() -> Any:
    """Counted skip requests for the current song: established requesters, capped per
    address (a fresh account's request is kept, and counts once it is established)."""
    requests = (
        select(func.count().label("n"))
        .select_from(SkipRequest)
        .join(User, User.id == SkipRequest.user_id)
        .where(SkipRequest.queued_song_id == bindparam("current_song_id"), _established())
        .group_by(_address_group())
    )
    return _capped_sum(requests.subquery())


def _crowd_params(party: Party, crowd: Crowd) -> dict[str, Any]:
    return {
        "party_id": party.id,
        "host_id": party.host_id,
        "current_song_id": party.current_song_id,
        "cutoff": crowd.cutoff,
        "established": crowd.established,
        "cap": crowd.cap,
    }


_MEMBERS = {True: _members_query(has_host=True), False: _members_query(has_host=False)}
_SKIPS = _skips_query()


async def participant_count(db: AsyncSession, party: Party, crowd: Crowd) -> int:
    """Counted members (present, established, capped per address), plus the host, who
    always counts; at least 1."""
    query = _MEMBERS[party.host_id is not None]
    members = int((await db.execute(query, _crowd_params(party, crowd))).scalar_one())
    return members + 1


async def touch_presence(
    db: AsyncSession,
    *,
    user_ids: Collection[uuid.UUID],
    party_ids: Collection[uuid.UUID],
    at: datetime,
) -> None:
    """Open sockets count as activity: one UPDATE for the users, one for their parties (so
    idle expiry never ends a party that has listeners)."""
    for chunk in _chunks(user_ids):
        await db.execute(
            update(User)
            .where(User.id.in_(chunk), User.last_active_at < at)
            .values(last_active_at=at)
            .execution_options(synchronize_session=False)
        )
    for chunk in _chunks(party_ids):
        await db.execute(
            update(Party)
            .where(Party.id.in_(chunk), Party.ended_at.is_(None), Party.last_activity_at < at)
            .values(last_activity_at=at)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True, slots=True)
class Counts:
    queue_total: int
    participant_count: int
    skip_request_count: int
    user_requested_skip: bool


def _counts_query(*, has_host: bool) -> Any:
    queued = select(func.count()).where(
        QueuedSong.party_id == bindparam("party_id"), QueuedSong.status == SongStatus.queued
    )
    mine = select(func.count()).where(
        SkipRequest.queued_song_id == bindparam("current_song_id"),
        SkipRequest.user_id == bindparam("user_id"),
    )
    return select(
        queued.scalar_subquery(),
        _MEMBERS[has_host].scalar_subquery(),
        _SKIPS.scalar_subquery(),
        mine.scalar_subquery(),
    )


# Built once (constructing statements costs CPU per request): with and without a host.
_COUNTS = {True: _counts_query(has_host=True), False: _counts_query(has_host=False)}


async def counts(db: AsyncSession, party: Party, user_id: uuid.UUID, *, crowd: Crowd) -> Counts:
    """What `queue_total`, `participant_count` and the skip state answer, in one statement
    (GET /sessions/current is dominated by round trips to the database)."""
    params = {**_crowd_params(party, crowd), "user_id": user_id}
    row = (await db.execute(_COUNTS[party.host_id is not None], params)).one()
    with_skips = party.current_song_id is not None
    return Counts(
        queue_total=int(row[0]),
        participant_count=int(row[1]) + 1,  # the host always counts
        skip_request_count=int(row[2]) if with_skips else 0,
        user_requested_skip=bool(row[3]) if with_skips else False,
    )


# -- skip requests ---------------------------------------------------------------------------


async def skip_state(
    db: AsyncSession, party: Party, user_id: uuid.UUID, crowd: Crowd
) -> tuple[int, bool]:
    """(counted requests for the current song, whether `user_id` made one)."""
    if party.current_song_id is None:
        return 0, False
    counted = await counted_skips(db, party, crowd)
    mine = select(SkipRequest.user_id).where(
        SkipRequest.queued_song_id == party.current_song_id, SkipRequest.user_id == user_id
    )
    return counted, (await db.execute(mine)).first() is not None


async def counted_skips(db: AsyncSession, party: Party, crowd: Crowd) -> int:
    """Skip requests for the current song that count (established, capped per address)."""
    if party.current_song_id is None:
        return 0
    return int((await db.execute(_SKIPS, _crowd_params(party, crowd))).scalar_one())


async def add_skip_request(db: AsyncSession, *, party: Party, user_id: uuid.UUID) -> None:
    assert party.current_song_id is not None
    statement = (
        insert_for(db)(SkipRequest)
        .values(
            queued_song_id=party.current_song_id,
            user_id=user_id,
            party_id=party.id,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["queued_song_id", "user_id"])
    )
    await db.execute(statement)


async def withdraw_skip_request(
    db: AsyncSession, *, party_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    result = await db.execute(
        delete(SkipRequest).where(SkipRequest.party_id == party_id, SkipRequest.user_id == user_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def clear_skip_requests(db: AsyncSession, party_id: uuid.UUID) -> None:
    await db.execute(delete(SkipRequest).where(SkipRequest.party_id == party_id))
