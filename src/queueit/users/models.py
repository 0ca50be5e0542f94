"""The users table."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from queueit.core.types import Base, UTCDateTime, utcnow


class MusicProvider(StrEnum):
    apple = "apple"
    spotify = "spotify"
    none = "none"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_username_lower", text("lower(username)"), unique=True),
        Index("ix_users_current_session_id", "current_session_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str | None] = mapped_column(String(30))
    display_name: Mapped[str | None] = mapped_column(String(30))
    music_provider: Mapped[MusicProvider] = mapped_column(
        Enum(MusicProvider, name="music_provider", native_enum=False, length=16),
        default=MusicProvider.none,
    )
    storefront: Mapped[str] = mapped_column(String(2), default="us")
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    # The party the user is in (at most one), and the last one they left. (The table keeps
    # the column names of the first schema: a party is a row of `sessions`.)
    current_party_id: Mapped[uuid.UUID | None] = mapped_column(
        "current_session_id", Uuid, ForeignKey("sessions.id", ondelete="SET NULL", use_alter=True)
    )
    previous_party_id: Mapped[uuid.UUID | None] = mapped_column(
        "previous_session_id", Uuid, ForeignKey("sessions.id", ondelete="SET NULL", use_alter=True)
    )
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Sybil resistance (docs/DOMAIN.md): when the user joined their current party, and a keyed
    # hash of the client address they joined from (never the raw IP).
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    join_address: Mapped[str | None] = mapped_column(String(32))


class DeletedAccount(Base):
    """Tombstone: tokens issued before the deletion stop working instead of re-provisioning."""

    __tablename__ = "deleted_accounts"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
