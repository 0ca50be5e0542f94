"""Adding a track to a party: the catalog says which track it is (its own record, never the
client's text) and in which version the host plays it, the server keeps it, the party queues
it. Every way a track enters a party goes through here."""

from __future__ import annotations

from queueit.catalog import store
from queueit.catalog.schemas import Source, Track
from queueit.catalog.service import CatalogService
from queueit.core.uow import UnitOfWork
from queueit.party import guards, songs
from queueit.party.schemas import QueuedSongOut
from queueit.users.models import User


async def add_track(
    uow: UnitOfWork,
    *,
    actor: User,
    source: Source,
    track_id: str,
    catalog: CatalogService,
    max_queue_length: int,
    max_songs_per_guest: int,
    sent: Track | None = None,
    allow_unverified: bool = False,
) -> QueuedSongOut:
    """Queue track `(source, track_id)` in the caller's party; re-adding a queued track is an
    upvote. `sent` is the client's description, used only under ALLOW_UNVERIFIED_TRACKS."""
    party = await guards.party_of(uow, actor)
    # Network I/O happens before any lock is taken.
    trusted = await store.trusted_track(
        uow,
        catalog,
        source=source,
        track_id=track_id,
        host_provider=party.host_provider,
        storefront=party.host_storefront,
        sent=sent,
        allow_unverified=allow_unverified,
    )
    adding = await songs.begin_add(
        uow, actor, track=trusted.track, max_songs_per_guest=max_songs_per_guest
    )
    song_id = await store.song_id(uow, trusted)
    return await songs.add_song(uow, adding, song_id=song_id, max_queue_length=max_queue_length)
