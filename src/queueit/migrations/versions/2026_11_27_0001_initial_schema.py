"""Initial schema: users, sessions, songs, queued_songs, votes, skip_requests.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
QUEUE_STATUS = sa.Enum(
    "queued",
    "playing",
    "played",
    "skipped",
    "removed",
    name="queue_status",
    create_constraint=True,
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(30), nullable=True),
        sa.Column("display_name", sa.String(30), nullable=True),
        sa.Column("music_provider", sa.String(16), nullable=False, server_default="none"),
        sa.Column("storefront", sa.String(2), nullable=False, server_default="us"),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("current_session_id", sa.Uuid(), nullable=True),
        sa.Column("previous_session_id", sa.Uuid(), nullable=True),
        sa.Column("last_active_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "music_provider IN ('apple', 'spotify', 'none')", name=op.f("ck_users_music_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "deleted_accounts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("deleted_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_deleted_accounts")),
    )

    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("join_code", sa.String(20), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=True),
        sa.Column("host_provider", sa.String(16), nullable=False),
        sa.Column("host_storefront", sa.String(2), nullable=False, server_default="us"),
        sa.Column("is_locked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("is_paused", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("current_song_id", sa.Uuid(), nullable=True),
        sa.Column(
            "last_skip_was_crowdsourced", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_activity_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["users.id"], ondelete="SET NULL", name=op.f("fk_sessions_host_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )

    op.create_table(
        "songs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("provider_id", sa.String(200), nullable=False),
        sa.Column("isrc", sa.String(20), nullable=False, server_default=""),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artists", sa.String(500), nullable=False),
        sa.Column("album", sa.String(500), nullable=False, server_default=""),
        sa.Column("duration_ms", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("image_url", sa.String(1000), nullable=True),
        sa.Column("explicit", sa.Boolean(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_songs")),
        sa.UniqueConstraint("source", "provider_id", name="uq_songs_source_provider_id"),
    )

    op.create_table(
        "queued_songs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("song_id", sa.Uuid(), nullable=False),
        sa.Column("added_by_id", sa.Uuid(), nullable=True),
        sa.Column("status", QUEUE_STATUS, nullable=False, server_default="queued"),
        sa.Column("votes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("entered_tier_by_gain", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("last_entered_tier_at", TS, nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            ondelete="CASCADE",
            name=op.f("fk_queued_songs_session_id_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["song_id"],
            ["songs.id"],
            ondelete="RESTRICT",
            name=op.f("fk_queued_songs_song_id_songs"),
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            ondelete="SET NULL",
            name=op.f("fk_queued_songs_added_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_songs")),
    )
    op.create_index(
        "ix_queued_songs_session_status_votes", "queued_songs", ["session_id", "status", "votes"]
    )
    op.create_index("ix_queued_songs_added_by_id", "queued_songs", ["added_by_id"])
    op.create_index(
        "uq_queued_songs_one_playing",
        "queued_songs",
        ["session_id"],
        unique=True,
        postgresql_where=sa.text("status = 'playing'"),
        sqlite_where=sa.text("status = 'playing'"),
    )
    op.create_index(
        "uq_queued_songs_session_song_queued",
        "queued_songs",
        ["session_id", "song_id"],
        unique=True,
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )

    op.create_table(
        "votes",
        sa.Column("queued_song_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("value IN (1, -1)", name=op.f("ck_votes_value_is_plus_or_minus_one")),
        sa.ForeignKeyConstraint(
            ["queued_song_id"],
            ["queued_songs.id"],
            ondelete="CASCADE",
            name=op.f("fk_votes_queued_song_id_queued_songs"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name=op.f("fk_votes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("queued_song_id", "user_id", name=op.f("pk_votes")),
    )
    op.create_index("ix_votes_user_id", "votes", ["user_id"])

    op.create_table(
        "skip_requests",
        sa.Column("queued_song_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["queued_song_id"],
            ["queued_songs.id"],
            ondelete="CASCADE",
            name=op.f("fk_skip_requests_queued_song_id_queued_songs"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name=op.f("fk_skip_requests_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            ondelete="CASCADE",
            name=op.f("fk_skip_requests_session_id_sessions"),
        ),
        sa.PrimaryKeyConstraint("queued_song_id", "user_id", name=op.f("pk_skip_requests")),
    )
    op.create_index("ix_skip_requests_session_id", "skip_requests", ["session_id"])
    op.create_index("ix_skip_requests_user_id", "skip_requests", ["user_id"])

    # The circular references, added once both ends exist.
    with op.batch_alter_table("users") as batch:
        batch.create_foreign_key(
            op.f("fk_users_current_session_id_sessions"),
            "sessions",
            ["current_session_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_foreign_key(
            op.f("fk_users_previous_session_id_sessions"),
            "sessions",
            ["previous_session_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("sessions") as batch:
        batch.create_foreign_key(
            op.f("fk_sessions_current_song_id_queued_songs"),
            "queued_songs",
            ["current_song_id"],
            ["id"],
            ondelete="SET NULL",
        )

    # Indexes on the two rebuilt tables come last: SQLite's batch mode recreates a table and
    # would not carry expression or partial indexes over.
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    op.create_index("ix_users_current_session_id", "users", ["current_session_id"])
    op.create_index(
        "uq_sessions_active_join_code",
        "sessions",
        ["join_code"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
        sqlite_where=sa.text("ended_at IS NULL"),
    )
    op.create_index(
        "ix_sessions_active_last_activity", "sessions", ["ended_at", "last_activity_at"]
    )


def downgrade() -> None:
    op.drop_index("uq_users_username_lower", table_name="users")
    op.drop_index("uq_sessions_active_join_code", table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint(op.f("fk_sessions_current_song_id_queued_songs"), type_="foreignkey")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("fk_users_previous_session_id_sessions"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_users_current_session_id_sessions"), type_="foreignkey")
    op.drop_table("skip_requests")
    op.drop_table("votes")
    op.drop_table("queued_songs")
    op.drop_table("songs")
    op.drop_table("sessions")
    op.drop_table("deleted_accounts")
    op.drop_table("users")
    QUEUE_STATUS.drop(op.get_bind(), checkfirst=True)
