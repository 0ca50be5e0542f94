"""POST/DELETE /songs/{id}/vote in one database round trip (issue 17), on PostgreSQL with
row-level security: the fast twin of party/voting.py `vote` for the common case.

party/voting.py is the rule. `queueit_rls.cast_vote` (migration 0009; its module docstring,
migrations/rls_0009/cast_vote.py, lists what it settles and what it defers) settles a vote
only where the rows alone show the rule accepts it, and writes exactly what the general path
writes; everything else comes back as `defer`, with nothing written, and the route runs the
general path (a unit of work, users.service.current_user, voting.vote), which answers with
the rule's own errors. tests/party/test_vote_fast_path.py runs the vote scenarios through
both and compares status, body, totals, versions and events.

The statement runs on a pooled connection in its own implicit transaction (no BEGIN/COMMIT,
no ORM session); the votes.updated event is published after it returned, i.e. after its
commit, as a unit of work publishes after its commit; the `vote_cast` log line is the same.

Failures: a database error raised by the statement (a guard trigger, a deadlock) rolled it
back whole, so the general path runs and decides. A dead connection (the pool does not ping
with RLS on, core/engine.py) is invalidated and the general path runs too, on another
connection: the statement may or may not have committed, and the general path is the safe
retry either way. Setting a value is idempotent (a vote already there is re-cast: no second
row, total or version), so the answer and the rows are right; what a lost commit
acknowledgement can cost is that one votes.updated event, which realtime clients recover
from by the version gap (docs/REALTIME.md) rather than a wrong total. A blind re-send of
the statement would not be safer: it is the same idempotent write, with less checking."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.util import greenlet_spawn

from queueit.core import rls
from queueit.core.security import Claims
from queueit.core.uow import Database
from queueit.party import events
from queueit.party.read_model_caller import DISCONNECTS, UNSUPPORTED
from queueit.party.schemas import VoteOut
from queueit.party.vote_repository import Tally
from queueit.users.service import PRESENCE_WRITE_INTERVAL

log = structlog.get_logger(__name__)

_CAST_VOTE = "SELECT * FROM queueit_rls.cast_vote($1, $2, $3, $4, $5, $6, $7, $8)"
# As read_model_caller's, and any other error of the statement's text against this schema (a
# function that does not match this code): the process votes through the general path.
_UNSUPPORTED = (*UNSUPPORTED, asyncpg.SyntaxOrAccessError)


@dataclass(frozen=True, slots=True)
class Cast:
    """What the function settled: the song's votes afterwards (None: re-cast, nothing
    changed) and the party's version."""

    party_id: uuid.UUID
    total: int
    tally: Tally | None
    version: int | None


class VoteFastPath:
    """One process's vote fast path (state: whether the database supports it)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        settings = database.settings
        self.enabled = database.dialect == "postgresql" and settings.rls_enabled

    async def vote(
        self, *, claims: Claims, queued_song_id: uuid.UUID, value: int | None
    ) -> VoteOut | None:
        """The answer the general path would give, having done what it would do (the rows,
        then the event), or None for the route to take the general path."""
        if not self.enabled:
            return None
        cast = await self._cast(claims, queued_song_id, value)
        if not isinstance(cast, Cast):
            return None  # deferred (the reason, for tests), or not sent
        if cast.tally is not None and cast.version is not None:
            log.info(
                "vote_cast",
                session_id=str(cast.party_id),
                queued_song_id=str(queued_song_id),
                value=value,
                total=cast.total,
            )
            await self.database.publisher(
                [events.votes_updated(cast.party_id, cast.version, cast.tally)]
            )
        return VoteOut(total_votes=cast.total)

    async def _cast(
        self, claims: Claims, queued_song_id: uuid.UUID, value: int | None
    ) -> Cast | str | None:
        """What the function settled, or why it deferred (`defer:<reason>`), or None when
        it could not be asked."""
        now = datetime.now(UTC)
        arguments = (
            json.dumps(rls.user_claims(claims.sub, is_anonymous=claims.is_anonymous)),
            str(claims.sub),
            claims.is_anonymous,
            queued_song_id,
            value,
            now,
            now - PRESENCE_WRITE_INTERVAL,  # older: the function refreshes presence (0011)
            self.database.settings.members_counted_per_address,
        )
        engine = self.database.engine
        try:
            pooled = await engine.raw_connection()
        except (engine.dialect.loaded_dbapi.Error, OSError, SQLAlchemyError) as exc:
            # No connection to be had (the database restarting, the pool exhausted): nothing
            # was sent. The general path asks again and answers 503 as it always did.
            log.info("vote_fast_path_no_connection", error=type(exc).__name__)
            return None
        try:
            driver: asyncpg.Connection[Any] = pooled.driver_connection
            rows = await driver.fetch(_CAST_VOTE, *arguments)
        except DISCONNECTS as exc:
            # Committed or not, the general path is the safe retry (the module's docstring).
            log.info("vote_fast_path_disconnect", error=type(exc).__name__)
            await greenlet_spawn(pooled.invalidate, exc)
            return None
        except _UNSUPPORTED as exc:
            log.warning("vote_fast_path_unsupported", error=type(exc).__name__)
            self.enabled = False
            return None
        except asyncpg.PostgresError as exc:
            # Rolled back whole (a guard, a deadlock): the general path decides and answers.
            log.info("vote_fast_path_error", error=type(exc).__name__)
            return None
        finally:
            await greenlet_spawn(pooled.close)  # back to the pool (or closed, if invalid)
        return _cast_of(rows[0], queued_song_id) if rows else None


def _cast_of(row: asyncpg.Record, queued_song_id: uuid.UUID) -> Cast | str:
    outcome: str = row["outcome"]
    if outcome.startswith("defer"):
        return outcome
    if outcome == "unchanged":
        return Cast(row["party_id"], int(row["total"]), None, None)
    tally = Tally(
        queued_song_id,
        int(row["total"]),
        bool(row["entered_tier_by_gain"]),
        row["last_entered_tier_at"],
        bool(row["is_fallback"]),
    )
    return Cast(row["party_id"], tally.total_votes, tally, int(row["version"]))
