"""Trusted tracks: `songs.verified_at`, and songs no longer updatable by the user role.

`verified_at` is when the server last took a row's metadata from the catalog itself. Every row
that exists before this migration has NULL: its text came from whichever client added the
track first. Such rows heal on the next add of the same track (the server overwrites them with
the catalog's values), and `queueit reverify-tracks` heals them all at once, or replaces the
text of tracks the catalog does not know (docs/CATALOG.md, "Trusted tracks").

On PostgreSQL the user role keeps INSERT on songs (the verified path inserts the rows the
server built inside the request's transaction) but loses UPDATE: the policy
`songs_update_adding` and the column grants go. Healing a row is the server's own write
(queueit_system, UnitOfWork.as_system).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

USER_ROLE = "queueit_user"
SONG_UPDATE_COLUMNS = (
    "source, provider_id, isrc, name, artists, album, duration_ms, image_url, explicit"
)


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column("songs", sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
    if _is_postgresql():
        op.execute("DROP POLICY IF EXISTS songs_update_adding ON public.songs")
        op.execute(f"REVOKE UPDATE ON public.songs FROM {USER_ROLE}")


def downgrade() -> None:
    if _is_postgresql():
        op.execute(f"GRANT UPDATE ({SONG_UPDATE_COLUMNS}) ON public.songs TO {USER_ROLE}")
        op.execute(
            f"CREATE POLICY songs_update_adding ON public.songs FOR UPDATE TO {USER_ROLE}"
            " USING ((SELECT auth.uid()) IS NOT NULL)"
            " WITH CHECK (queueit_rls.may_add((SELECT queueit_rls.my_session_id())))"
        )
    with op.batch_alter_table("songs") as batch:
        batch.drop_column("verified_at")
