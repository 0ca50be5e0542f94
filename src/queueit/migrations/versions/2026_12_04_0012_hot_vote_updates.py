"""A vote's updates are heap-only (HOT) on PostgreSQL (issue 17).

Every vote updates its song (`votes`, the tier columns) and its party (`version`,
`last_activity_at`). PostgreSQL rewrites such a row without touching any index (a heap-only
tuple, HOT) only when no indexed column changed and the row's page has room. Two indexes
named a column every vote changes, so every vote added an entry to each of the nine indexes
of the two tables and put the rows' new versions on fresh pages: twice the WAL per vote, and
tables and indexes that grew until vacuum came by (docs/RLS.md "A vote touches no index"):

- `ix_queued_songs_session_status_votes` (session_id, status, votes) becomes
  `ix_queued_songs_session_status` (session_id, status): the queue's queries select by
  party and status and sort by the play order (party/ordering.py), which has six more keys
  than the index could give them anyway;
- `ix_sessions_active_last_activity` (ended_at, last_activity_at) goes: the idle sweep
  (party/repository.idle) and the active-party count select `ended_at IS NULL`, which the
  two partial unique indexes on active parties (join code, host) already cover.

On PostgreSQL both tables also get a fill factor (`sessions` 70, `queued_songs` 90): room on
each page for the next versions of its rows, so an update finds space on its own page. It
applies to pages written from now on; existing pages gain it as vacuum frees them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from queueit.migrations.postgresql import on_postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_queued_songs_session_status_votes", table_name="queued_songs")
    op.create_index("ix_queued_songs_session_status", "queued_songs", ["session_id", "status"])
    op.drop_index("ix_sessions_active_last_activity", table_name="sessions")
    on_postgresql(
        [
            "ALTER TABLE public.sessions SET (fillfactor = 70)",
            "ALTER TABLE public.queued_songs SET (fillfactor = 90)",
        ]
    )


def downgrade() -> None:
    on_postgresql(
        [
            "ALTER TABLE public.queued_songs RESET (fillfactor)",
            "ALTER TABLE public.sessions RESET (fillfactor)",
        ]
    )
    op.create_index(
        "ix_sessions_active_last_activity", "sessions", ["ended_at", "last_activity_at"]
    )
    op.drop_index("ix_queued_songs_session_status", table_name="queued_songs")
    op.create_index(
        "ix_queued_songs_session_status_votes", "queued_songs", ["session_id", "status", "votes"]
    )
