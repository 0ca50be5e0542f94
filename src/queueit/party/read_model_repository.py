"""SQL for the read model (party/read_model.py): what one caller's GET /sessions/current needs
besides the cached document, in one statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, exists, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from queueit.party.models import Party, QueuedSong, SkipRequest, SongStatus, Vote

_party = Party.__table__
_queued = QueuedSong.__table__
_votes = Vote.__table__
_skips = SkipRequest.__table__


def _caller_view_query() -> Select[Any]:
    """The party's version and ended_at, whether the caller asked to skip the current song,
    then one row per vote of the caller on a song waiting in the party (one row with NULLs
    when none): a LEFT JOIN, so that the party's row and the caller's rows come back together.
    The same filter as `queue_repository.my_votes` (the snapshot's own)."""
    mine = (
        select(_votes.c.queued_song_id, _votes.c.value)
        .join(_queued, _queued.c.id == _votes.c.queued_song_id)
        .where(
            _votes.c.user_id == bindparam("user_id"),
            _queued.c.session_id == bindparam("party_id"),
            _queued.c.status == SongStatus.queued,
        )
        .subquery()
    )
    requested = exists().where(
        _skips.c.queued_song_id == _party.c.current_song_id,
        _skips.c.user_id == bindparam("user_id"),
    )
    return (
        select(
            _party.c.version,
            _party.c.ended_at,
            requested.label("requested"),
            mine.c.queued_song_id,
            mine.c.value,
        )
        .select_from(_party.outerjoin(mine, true()))
        .where(_party.c.id == bindparam("party_id"))
    )


# Built once, executed on the connection (Core): no ORM compile state, no identity map.
_CALLER_VIEW = _caller_view_query()


@dataclass(frozen=True, slots=True)
class CallerView:
    version: int
    ended: bool
    my_votes: dict[str, int]
    requested_skip: bool


async def caller_view(
    db: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID
) -> CallerView | None:
    """The party's version and the caller's own fields, or None when the party is not there
    for the caller (absent, or hidden by row-level security)."""
    connection = await db.connection()
    params = {"party_id": party_id, "user_id": user_id}
    rows = (await connection.execute(_CALLER_VIEW, params)).all()
    if not rows:
        return None
    first = rows[0]
    return CallerView(
        version=int(first[0]),
        ended=first[1] is not None,
        my_votes={str(row[3]): int(row[4]) for row in rows if row[3] is not None},
        requested_skip=bool(first[2]),
    )
