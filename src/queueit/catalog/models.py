"""The songs table: catalog tracks keyed by source and the provider's id. `verified_at` is
when the server last took the row's metadata from the catalog itself; NULL marks a row whose
text came from a client (rows from before migration 0003, or ALLOW_UNVERIFIED_TRACKS)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from queueit.core.types import Base, UTCDateTime, new_id, utcnow


class Song(Base):
    __tablename__ = "songs"
    __table_args__ = (
        UniqueConstraint("source", "provider_id", name="uq_songs_source_provider_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str] = mapped_column(String(200))
    isrc: Mapped[str] = mapped_column(String(20), default="")
    name: Mapped[str] = mapped_column(String(500))
    artists: Mapped[str] = mapped_column(String(500))
    album: Mapped[str] = mapped_column(String(500), default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    image_url: Mapped[str | None] = mapped_column(String(1000))
    explicit: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
