"""The queued_songs and votes tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from queueit.core.db import Base, UTCDateTime, new_id, utcnow


class SongStatus(StrEnum):
    queued = "queued"
    playing = "playing"
    played = "played"
    skipped = "skipped"
    removed = "removed"


class QueuedSong(Base):
    __tablename__ = "queued_songs"
    __table_args__ = (
        Index("ix_queued_songs_session_status_votes", "session_id", "status", "votes"),
        Index("ix_queued_songs_added_by_id", "added_by_id"),
        # At most one playing song per session, guaranteed by the database.
        Index(
            "uq_queued_songs_one_playing",
            "session_id",
            unique=True,
            postgresql_where=text("status = 'playing'"),
            sqlite_where=text("status = 'playing'"),
        ),
        # A track is queued at most once per session (re-adding counts as an upvote).
        Index(
            "uq_queued_songs_session_song_queued",
            "session_id",
            "song_id",
            unique=True,
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sessions.id", ondelete="CASCADE")
    )
    song_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("songs.id", ondelete="RESTRICT"))
    added_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[SongStatus] = mapped_column(
        Enum(
            SongStatus,
            name="queue_status",
            native_enum=True,
            create_constraint=True,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=SongStatus.queued,
    )
    votes: Mapped[int] = mapped_column(Integer, default=0)
    entered_tier_by_gain: Mapped[bool] = mapped_column(Boolean, default=True)
    last_entered_tier_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (
        CheckConstraint("value IN (1, -1)", name="value_is_plus_or_minus_one"),
        Index("ix_votes_user_id", "user_id"),
    )

    # The primary key (queued_song_id, user_id) is the one-vote-per-user-and-song rule and
    # the index for votes by song.
    queued_song_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("queued_songs.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
