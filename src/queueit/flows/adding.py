"""Adding a track to a party: the catalog says which track it is in the host's catalog, the
server keeps it, the party queues it. Every way a track enters a party goes through here."""

from __future__ import annotations

from queueit.catalog import store
from queueit.catalog.schemas import Track
from queueit.catalog.service import CatalogService
from queueit.core.uow import UnitOfWork
from queueit.party import songs
from queueit.party.schemas import QueuedSongOut
from queueit.users.models import User


async def add_track(
    uow: UnitOfWork,
    *,
    actor: User,
    track: Track,
    catalog: CatalogService,
    max_queue_length: int,
    max_songs_per_guest: int,
) -> QueuedSongOut:
    """Queue `track` in the caller's party; re-adding a queued track is an upvote."""
    party = await songs.party_to_add_to(uow, actor)
    # Network I/O happens before any lock is taken.
    resolved = await catalog.resolve_for_host(
        track, host_provider=party.host_provider, storefront=party.host_storefront
    )
    adding = await songs.begin_add(uow, actor)
    song_id = await store.song_id(uow, track=resolved)
    return await songs.add_song(
        uow,
        adding,
        song_id=song_id,
        max_queue_length=max_queue_length,
        max_songs_per_guest=max_songs_per_guest,
    )
