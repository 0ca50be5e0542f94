"""Hostile guests (issue 16): one active party per host; RLS closes the join-code and
membership holes (docs/RLS.md, docs/SECURITY.md).

- `uq_sessions_one_active_per_host`: a partial unique index, so an account holds one join
  code at a time and two concurrent creates cannot both stay open. Parties that break the rule
  already (the newest active one per host is kept) are ended first, their members released.
- `users.joined_at`, `users.join_address` (a keyed hash of the client address): crowd skip
  counts established members, and members sharing one address count a bounded number of
  times (docs/DOMAIN.md "Crowds and addresses").
- PostgreSQL only (rls_0004/join_path.py): an active party's row is readable by an outsider
  only when the transaction presents its join code (`queueit.join_code`), and
  `users.current_session_id` may only point at a party the caller hosts or presented the code
  of (guard_users, via the SECURITY DEFINER `queueit_rls.may_join`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from queueit.core.types import UTCDateTime, utcnow
from queueit.migrations.rls_0004 import join_path

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Active parties with a newer active party of the same host.
_SUPERSEDED = (
    "SELECT s.id FROM sessions s WHERE s.ended_at IS NULL AND s.host_id IS NOT NULL"
    " AND EXISTS (SELECT 1 FROM sessions n WHERE n.host_id = s.host_id AND n.ended_at IS NULL"
    " AND (n.created_at > s.created_at OR (n.created_at = s.created_at AND n.id > s.id)))"
)


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column("users", sa.Column("joined_at", UTCDateTime(), nullable=True))
    op.add_column("users", sa.Column("join_address", sa.String(32), nullable=True))
    _end_superseded_parties()
    op.create_index(
        "uq_sessions_one_active_per_host",
        "sessions",
        ["host_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
        sqlite_where=sa.text("ended_at IS NULL"),
    )
    if _is_postgresql():
        for statement in join_path.upgrade_statements():
            op.execute(statement)
        # Joining records when and from where (a keyed hash) the member joined.
        op.execute("GRANT UPDATE (joined_at, join_address) ON public.users TO queueit_user")


def _end_superseded_parties() -> None:
    query = sa.text(_SUPERSEDED).columns(id=sa.Uuid())
    superseded = [row[0] for row in op.get_bind().execute(query)]
    if not superseded:
        return
    ids = sa.bindparam("ids", superseded, expanding=True, type_=sa.Uuid())
    op.execute(
        sa.text(
            "UPDATE users SET previous_session_id = current_session_id,"
            " current_session_id = NULL WHERE current_session_id IN :ids"
        ).bindparams(ids)
    )
    now = sa.bindparam("now", utcnow(), type_=UTCDateTime())
    # What ending a party does (party/lifecycle.end_party).
    op.execute(
        sa.text(
            "UPDATE queued_songs SET status = 'played', finished_at = :now"
            " WHERE session_id IN :ids AND status = 'playing'"
        ).bindparams(ids, now)
    )
    op.execute(sa.text("DELETE FROM skip_requests WHERE session_id IN :ids").bindparams(ids))
    op.execute(
        sa.text(
            "UPDATE sessions SET ended_at = :now, end_reason = 'host_opened_another'"
            " WHERE id IN :ids"
        ).bindparams(ids, now)
    )


def downgrade() -> None:
    if _is_postgresql():
        for statement in join_path.downgrade_statements():
            op.execute(statement)
    op.drop_index("uq_sessions_one_active_per_host", table_name="sessions")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of `users` would not keep its
    # expression index.
    op.drop_column("users", "join_address")
    op.drop_column("users", "joined_at")
