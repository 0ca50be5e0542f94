"""Every table, so the metadata Alembic compares against is complete."""

from queueit.catalog.models import Song
from queueit.core.types import Base
from queueit.party.models import (
    FallbackSource,
    FallbackTrack,
    Party,
    PartyBan,
    PartyRole,
    QueuedSong,
    SkipRequest,
    Vote,
)
from queueit.users.models import DeletedAccount, User

__all__ = [
    "Base",
    "DeletedAccount",
    "FallbackSource",
    "FallbackTrack",
    "Party",
    "PartyBan",
    "PartyRole",
    "QueuedSong",
    "SkipRequest",
    "Song",
    "User",
    "Vote",
]
