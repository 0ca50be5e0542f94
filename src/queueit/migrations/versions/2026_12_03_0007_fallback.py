"""Fallback source (issue 19): the music keeps going when the queue runs dry.

- `queued_songs.is_fallback`: the entry was queued by autofill from the host's fallback
  source (false for every existing row); a guest's +1 turns it into an ordinary request.
- `fallback_sources`: the party's source (one row per party: its kind and a label).
- `fallback_tracks`: the resolved source, in order (`position`); `used_at` marks the tracks
  autofill took this round (cleared when every track was used).

On PostgreSQL members of the party read both tables and only the host writes them;
autofill itself writes as the system role (it may run inside a guest's request, docs/RLS.md).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("fallback_sources", "fallback_tracks")
MEMBERS = (
    "session_id = (SELECT queueit_rls.my_session_id()) OR queueit_rls.party_access(session_id)"
)
HOST = "queueit_rls.hosts(session_id)"


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column(
        "queued_songs",
        sa.Column("is_fallback", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "fallback_sources",
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fallback_tracks",
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column(
            "song_id", sa.Uuid(), sa.ForeignKey("songs.id", ondelete="RESTRICT"), nullable=False
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_fallback_tracks_song_id", "fallback_tracks", ["song_id"])
    if _is_postgresql():
        _secure()


def _secure() -> None:
    op.execute("GRANT UPDATE (is_fallback) ON public.queued_songs TO queueit_user")
    for table in TABLES:
        op.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE public.{table} FORCE ROW LEVEL SECURITY")
        op.execute(f"GRANT SELECT, INSERT, DELETE ON public.{table} TO queueit_user")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO queueit_system")
        op.execute(
            f"CREATE POLICY {table}_system ON public.{table} FOR ALL TO queueit_system"
            " USING (true) WITH CHECK (true)"
        )
        op.execute(
            f"CREATE POLICY {table}_select_members ON public.{table} FOR SELECT"
            f" TO queueit_user USING ({MEMBERS})"
        )
        op.execute(
            f"CREATE POLICY {table}_insert_host ON public.{table} FOR INSERT"
            f" TO queueit_user WITH CHECK ({HOST})"
        )
        op.execute(
            f"CREATE POLICY {table}_delete_host ON public.{table} FOR DELETE"
            f" TO queueit_user USING ({HOST})"
        )
    # used_at is the server's: autofill marks it as the system role.


def downgrade() -> None:
    if _is_postgresql():
        op.execute("REVOKE UPDATE (is_fallback) ON public.queued_songs FROM queueit_user")
    op.drop_index("ix_fallback_tracks_song_id", table_name="fallback_tracks")
    op.drop_table("fallback_tracks")
    op.drop_table("fallback_sources")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would not keep the partial indexes.
    op.drop_column("queued_songs", "is_fallback")
