"""The caller's GET /sessions/current in one statement (issue 17).

- PostgreSQL only (rls_0008/caller_current.py): `queueit_rls.caller_current(claims, sub)`,
  a SECURITY INVOKER function that applies the caller's claims and role (as core/rls.py
  does) and then reads, as queueit_user under the policies, the caller's user row, their
  party's version and their own votes and skip request. No table changes; SQLite has nothing
  to do (the embedded server answers through the general path).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from queueit.migrations.postgresql import on_postgresql
from queueit.migrations.rls_0008 import caller_current

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    on_postgresql(caller_current.upgrade_statements())


def downgrade() -> None:
    on_postgresql(caller_current.downgrade_statements())
