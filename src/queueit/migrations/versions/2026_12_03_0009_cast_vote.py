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

from alembic import op

from queueit.migrations.rls_0009 import cast_vote

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgresql():
        for statement in cast_vote.upgrade_statements():
            op.execute(statement)


def downgrade() -> None:
    if _is_postgresql():
        for statement in cast_vote.downgrade_statements():
            op.execute(statement)
