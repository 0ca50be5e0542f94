"""The tracks this server keeps: one row per (source, provider id), shared by every party."""

from __future__ import annotations

import uuid

from queueit.catalog import repository
from queueit.catalog.schemas import Track
from queueit.core.uow import UnitOfWork


async def song_id(uow: UnitOfWork, *, track: Track) -> uuid.UUID:
    """The stored row of `track`, created when new (the first stored metadata is kept)."""
    return await repository.upsert_song(uow.session, track)
