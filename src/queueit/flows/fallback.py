"""Setting a party's fallback source: the catalog says which tracks they are (its own
records: verified track ids, a provider's playlist, the local catalog's matches for a seed),
in the version the host plays, the server keeps them, the party stores the ordered source.
All network I/O happens here, before the party's lock is taken; a provider outage is 503
`catalog_unavailable` and changes nothing."""

from __future__ import annotations

import uuid

import structlog

from queueit.catalog import playlist_reading, store
from queueit.catalog.errors import TrackUnavailable
from queueit.catalog.schemas import Track
from queueit.catalog.service import CatalogService
from queueit.core.uow import UnitOfWork
from queueit.party import fallback_source, guards
from queueit.party.errors import FallbackEmpty, FallbackSourceNotSupported, NotHost
from queueit.party.fallback_schemas import (
    MAX_FALLBACK_TRACKS,
    FallbackCatalogIn,
    FallbackIn,
    FallbackKind,
    FallbackOut,
    FallbackPlaylistIn,
)
from queueit.party.models import Party
from queueit.users.models import User

log = structlog.get_logger(__name__)

SEED_TRACKS = 50  # the local catalog's best matches a seed takes


async def set_fallback(
    uow: UnitOfWork, *, actor: User, body: FallbackIn, catalog: CatalogService
) -> FallbackOut:
    """Host only: resolve the source to stored songs, then make it the party's source (which
    fills the queue at once; an idle party starts playing)."""
    party = await guards.party_of(uow, actor)
    if party.host_id != actor.id:
        raise NotHost()
    if isinstance(body, FallbackPlaylistIn):
        kind, label = FallbackKind.playlist, f"{body.source} playlist {body.playlist_id}"
        tracks = await _playlist(catalog, party, body)
    elif isinstance(body, FallbackCatalogIn):
        kind, label = FallbackKind.catalog, f"Catalog: {body.seed}"
        found = await catalog.search(
            query=body.seed, limit=SEED_TRACKS, market=party.host_storefront, source="local"
        )
        tracks = await _for_host(catalog, party, found.tracks)
    else:
        kind, label = FallbackKind.tracks, f"{len(body.tracks)} tracks"
        tracks = []
        for ref in body.tracks:
            trusted = await store.trusted_track(
                uow,
                catalog,
                source=ref.source,
                track_id=ref.id,
                host_provider=party.host_provider,
                storefront=party.host_storefront,
            )
            tracks.append(trusted.track)
    if not tracks:
        raise FallbackEmpty()
    song_ids: list[uuid.UUID] = []
    for track in tracks[:MAX_FALLBACK_TRACKS]:
        song_ids.append(await store.song_id(uow, store.TrustedTrack(track=track, verified=True)))
    return await fallback_source.replace(
        uow, actor=actor, kind=kind, label=label, song_ids=song_ids
    )


async def _playlist(catalog: CatalogService, party: Party, body: FallbackPlaylistIn) -> list[Track]:
    found = await playlist_reading.playlist_tracks(
        catalog,
        body.source,
        body.playlist_id,
        storefront=party.host_storefront,
        limit=MAX_FALLBACK_TRACKS,
    )
    if found is None:
        raise FallbackSourceNotSupported()
    return await _for_host(catalog, party, found)


async def _for_host(catalog: CatalogService, party: Party, found: list[Track]) -> list[Track]:
    """Each track in the version the host plays; one the host's catalog lacks is left out
    (an outage is 503: the whole change waits for the provider)."""
    tracks: list[Track] = []
    for track in found:
        try:
            tracks.append(
                await catalog.resolve_for_host(
                    track, host_provider=party.host_provider, storefront=party.host_storefront
                )
            )
        except TrackUnavailable:
            log.info("fallback_track_unavailable", source=track.source, track_id=track.id)
    return tracks
