"""Party rules (issue 18): `sessions.settings`, the host's rules as one JSON document.

`{}` means the defaults (party/rules.py PartySettings), which keep the behaviour of a party
before this migration. On PostgreSQL the user role may update the column, and a trigger lets
only the party's host (or the system role) change it (docs/RLS.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GUARD = """
CREATE OR REPLACE FUNCTION queueit_rls.guard_session_settings() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $fn$
BEGIN
  IF pg_has_role('queueit_system', 'USAGE') THEN RETURN NEW; END IF;
  IF NEW.settings::text IS DISTINCT FROM OLD.settings::text
     AND NOT coalesce(OLD.host_id = auth.uid(), false) THEN
    RAISE EXCEPTION 'rls: only the host changes a party''s rules'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$fn$"""


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column("sessions", sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))
    if _is_postgresql():
        op.execute("GRANT UPDATE (settings) ON public.sessions TO queueit_user")
        op.execute(GUARD)
        op.execute(
            "CREATE TRIGGER queueit_rls_guard_settings BEFORE UPDATE OF settings"
            " ON public.sessions FOR EACH ROW EXECUTE FUNCTION queueit_rls.guard_session_settings()"
        )


def downgrade() -> None:
    if _is_postgresql():
        op.execute("DROP TRIGGER IF EXISTS queueit_rls_guard_settings ON public.sessions")
        op.execute("DROP FUNCTION IF EXISTS queueit_rls.guard_session_settings()")
        op.execute("REVOKE UPDATE (settings) ON public.sessions FROM queueit_user")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would not keep the partial indexes.
    op.drop_column("sessions", "settings")
