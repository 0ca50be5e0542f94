"""The party's tables: parties (table `sessions`), skip requests, queued songs and votes.

The tables keep the names of the first schema (a party is a row of `sessions`, its id is
`session_id` elsewhere); in Python a party is a party."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from queueit.core.types import Base, UTCDateTime, new_id, utcnow


class Party(Base):
    __tablename__ = "sessions"
    # Neither `version` nor `last_activity_at`, which every change writes, is in an index: a
    # vote's update of its party is heap-only on PostgreSQL (migration 0012).
    __table_args__ = (
        # A join code is unique among active parties only; ending a party frees it.
        Index(
            "uq_sessions_active_join_code",
            "join_code",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        # One active party per host: an account cannot squat several join codes at once, and
        # two concurrent creates by one host cannot both stay open (docs/DOMAIN.md).
        Index(
            "uq_sessions_one_active_per_host",
            "host_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
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
    # The host's rules (party/rules.py PartySettings); {} = the defaults.
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )


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
    party_id: Mapped[uuid.UUID] = mapped_column(
        "session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SongStatus(StrEnum):
    queued = "queued"
    playing = "playing"
    played = "played"
    skipped = "skipped"
    removed = "removed"


class QueuedSong(Base):
    __tablename__ = "queued_songs"
    __table_args__ = (
        # No column a vote changes is in any index: a vote's update is heap-only (HOT) on
        # PostgreSQL (migration 0012). The same holds for `sessions`.
        Index("ix_queued_songs_session_status", "session_id", "status"),
        Index("ix_queued_songs_added_by_id", "added_by_id"),
        # At most one playing song per party, guaranteed by the database.
        Index(
            "uq_queued_songs_one_playing",
            "session_id",
            unique=True,
            postgresql_where=text("status = 'playing'"),
            sqlite_where=text("status = 'playing'"),
        ),
        # A track is queued at most once per party (re-adding counts as an upvote).
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
    party_id: Mapped[uuid.UUID] = mapped_column(
        "session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE")
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
    # Queued by autofill from the host's fallback source (docs/DOMAIN.md "Fallback source").
    is_fallback: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @classmethod
    def waiting(
        cls,
        *,
        party_id: uuid.UUID,
        song_id: uuid.UUID,
        added_by_id: uuid.UUID | None,
        at: datetime,
        is_fallback: bool = False,
    ) -> QueuedSong:
        """A song entering the queue at `at`: no votes yet, a gainer into the 0 tier (the
        ordering rule's starting point for every new entry)."""
        return cls(
            id=uuid.uuid4(),
            party_id=party_id,
            song_id=song_id,
            added_by_id=added_by_id,
            status=SongStatus.queued,
            votes=0,
            entered_tier_by_gain=True,
            last_entered_tier_at=at,
            added_at=at,
            is_fallback=is_fallback,
        )


class FallbackSource(Base):
    """The host's fallback source of a party: what kind it is and a label to show."""

    __tablename__ = "fallback_sources"

    party_id: Mapped[uuid.UUID] = mapped_column(
        "session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FallbackTrack(Base):
    """One track of the resolved source, in order; `used_at` marks this round's picks."""

    __tablename__ = "fallback_tracks"
    __table_args__ = (Index("ix_fallback_tracks_song_id", "song_id"),)

    party_id: Mapped[uuid.UUID] = mapped_column(
        "session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    song_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("songs.id", ondelete="RESTRICT"))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


class PartyRoleName(StrEnum):
    """A role granted in one party (`party_roles.role`). The host is `sessions.host_id`, a
    guest has no row: only co-hosts are stored."""

    co_host = "co_host"


class PartyRole(Base):
    __tablename__ = "party_roles"
    __table_args__ = (
        CheckConstraint("role IN ('co_host')", name="role_is_known"),
        Index("ix_party_roles_user_id", "user_id"),
    )

    party_id: Mapped[uuid.UUID] = mapped_column(
        "session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), default=PartyRoleName.co_host.value)


class PartyBan(Base):
    """Someone a party's host or co-host banned: that account, and (outside the host's own
    network) fresh guests from the address it joined from (`join_address`, a keyed hash)."""

    __tablename__ = "party_bans"
    __table_args__ = (
        Index("ix_party_bans_session_address", "session_id", "join_address"),
        Index("ix_party_bans_user_id", "user_id"),
    )

    party_id: Mapped[uuid.UUID] = mapped_column(
        "session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    join_address: Mapped[str | None] = mapped_column(String(32))
    banned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    banned_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
