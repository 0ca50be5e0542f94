"""A vote's presence write in its one statement (issue 17).

- PostgreSQL only (rls_0011/cast_vote.py): `queueit_rls.cast_vote(...)` refreshes the
  caller's `last_active_at` itself when it settles a vote and the refresh is due, instead of
  deferring that vote to the general path. No table changes; SQLite has nothing to do.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from queueit.migrations.postgresql import on_postgresql
from queueit.migrations.rls_0011 import cast_vote

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    on_postgresql(cast_vote.upgrade_statements())


def downgrade() -> None:
    on_postgresql(cast_vote.downgrade_statements())
