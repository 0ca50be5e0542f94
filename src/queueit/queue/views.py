"""Turning queue rows into the API's QueuedSong shape."""

from __future__ import annotations

import uuid
from typing import cast

from queueit.catalog.models import Song
from queueit.catalog.schemas import Source, Track
from queueit.queue.repository import SongRow
from queueit.queue.schemas import QueuedSongOut
from queueit.users.models import MusicProvider, User
from queueit.users.schemas import UserOut

# Songs outlive the accounts that added them; the app always expects an `added_by` object.
DELETED_USER = UserOut(
    id=uuid.UUID(int=0),
    username=None,
    display_name="Deleted user",
    music_provider=MusicProvider.none,
    storefront="us",
    is_anonymous=True,
)


def track_of(song: Song) -> Track:
    return Track.model_construct(
        id=song.provider_id,
        isrc=song.isrc,
        name=song.name,
        artists=song.artists,
        album=song.album,
        duration_ms=song.duration_ms,
        image_url=song.image_url,
        source=cast(Source, song.source),
        explicit=song.explicit,
    )


def user_of(user: User | None) -> UserOut:
    return UserOut.model_validate(user) if user is not None else DELETED_USER


def queued_song_out(row: SongRow) -> QueuedSongOut:
    queued, song, added_by = row[0], row[1], row[2]
    return QueuedSongOut(
        id=queued.id,
        status=queued.status,
        added_at=queued.added_at,
        votes=queued.votes,
        song=track_of(song),
        added_by=user_of(added_by),
        last_entered_tier_at=queued.last_entered_tier_at,
        entered_tier_by_gain=queued.entered_tier_by_gain,
    )
