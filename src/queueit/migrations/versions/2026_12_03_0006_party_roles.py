"""Party roles (issue 20): co-hosts (`party_roles`) and bans (`party_bans`).

- `party_roles(session_id, user_id, role)`: the co-hosts of a party (the host is
  `sessions.host_id`; a guest has no row).
- `party_bans(session_id, user_id, join_address, banned_at, banned_by)`: who may not join the
  party again, and the address (a keyed hash) fresh guests may not join from.
- PostgreSQL only (rls_0006/party_roles.py): both tables under row-level security; a co-host
  passes the session and queued-song guards as the host does, except for ending the party.

Independent of any other migration after 0004 (it touches only its own tables, two new
helpers and the two guards it restores on downgrade).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from queueit.core.types import UTCDateTime
from queueit.migrations.rls_0006 import party_roles

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "party_roles",
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.CheckConstraint("role IN ('co_host')", name=op.f("ck_party_roles_role_is_known")),
    )
    op.create_index("ix_party_roles_user_id", "party_roles", ["user_id"])
    op.create_table(
        "party_bans",
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("join_address", sa.String(32), nullable=True),
        sa.Column("banned_at", UTCDateTime(), nullable=False),
        sa.Column(
            "banned_by", sa.Uuid(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
    )
    op.create_index("ix_party_bans_session_address", "party_bans", ["session_id", "join_address"])
    op.create_index("ix_party_bans_user_id", "party_bans", ["user_id"])
    if _is_postgresql():
        for statement in party_roles.upgrade_statements():
            op.execute(statement)


def downgrade() -> None:
    if _is_postgresql():
        for statement in party_roles.downgrade_statements():
            op.execute(statement)
    op.drop_index("ix_party_bans_user_id", table_name="party_bans")
    op.drop_index("ix_party_bans_session_address", table_name="party_bans")
    op.drop_table("party_bans")
    op.drop_index("ix_party_roles_user_id", table_name="party_roles")
    op.drop_table("party_roles")
