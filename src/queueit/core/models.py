"""Imports every table so the metadata is complete (Alembic, tests)."""

from queueit.catalog.models import Song
from queueit.core.db import Base
from queueit.queue.models import QueuedSong, SongStatus, Vote
from queueit.sessions.models import Session, SkipRequest
from queueit.users.models import DeletedAccount, MusicProvider, User

__all__ = [
    "Base",
    "DeletedAccount",
    "MusicProvider",
    "QueuedSong",
    "Session",
    "SkipRequest",
    "Song",
    "SongStatus",
    "User",
    "Vote",
]
