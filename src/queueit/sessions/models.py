"""The sessions and skip_requests tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from queueit.core.db import Base, UTCDateTime, new_id, utcnow


class Session(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        # A join code is unique among active sessions only; ending a session frees it.
        Index(
            "uq_sessions_active_join_code",
            "join_code",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index("ix_sessions_active_last_activity", "ended_at", "last_activity_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    join_code: Mapped[str] = mapped_column(String(20))
    host_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    host_provider: Mapped[str] = mapped_column(String(16))
    host_storefront: Mapped[str] = mapped_column(String(2), default="us")
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    current_song_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("queued_songs.id", ondelete="SET NULL", use_alter=True)
    )
    last_skip_was_crowdsourced: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))


class SkipRequest(Base):
    __tablename__ = "skip_requests"
    __table_args__ = (
        Index("ix_skip_requests_session_id", "session_id"),
        Index("ix_skip_requests_user_id", "user_id"),
    )

    queued_song_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("queued_songs.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sessions.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
