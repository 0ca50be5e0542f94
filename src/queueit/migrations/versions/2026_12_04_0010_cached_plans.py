"""The row-level security helpers plan once per connection (issue 17).

- PostgreSQL only (rls_0010/cached_plans.py): every SQL-language function of schema
  `queueit_rls` is redefined in PL/pgSQL around the same SELECT, with every other property
  kept, because PostgreSQL plans a SQL function that it cannot inline again on every
  statement that calls it, and the policies and guards call these on every request. No table
  and no rule changes; SQLite has nothing to do.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from queueit.migrations.postgresql import on_postgresql
from queueit.migrations.rls_0010 import cached_plans

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    on_postgresql(cached_plans.upgrade_statements())


def downgrade() -> None:
    on_postgresql(cached_plans.downgrade_statements())
