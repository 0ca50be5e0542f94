"""A vote's common case in one statement (issue 17).

- PostgreSQL only (rls_0009/cast_vote.py): `queueit_rls.cast_vote(...)`, a SECURITY INVOKER
  function that applies the caller's claims and role (as core/rls.py does) and then, as
  queueit_user under the policies, settles a vote the rule of party/voting.py plainly accepts
  (the vote row, the song's total and tier, the party's version) or answers `defer` without
  writing, for the general path. No table changes; SQLite has nothing to do.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from queueit.migrations.postgresql import on_postgresql
from queueit.migrations.rls_0009 import cast_vote

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    on_postgresql(cast_vote.upgrade_statements())


def downgrade() -> None:
    on_postgresql(cast_vote.downgrade_statements())
