"""The tracks this server keeps (one row per (source, provider id), shared by every party),
and the one way a track enters a party: `trusted_track` says which track it is, from the
songs table when the catalog's record is already stored, else from the catalog itself (before
any lock is taken); `song_id` keeps it (after the party is locked, so a refused add writes
nothing). Every entry path (the add route, re-add as upvote, the guest page, anything later)
goes through flows/adding.py, which calls these two."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog

from queueit.catalog import metrics, repository
from queueit.catalog.schemas import Source, Track, track_of
from queueit.catalog.service import CatalogService
from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TrustedTrack:
    """A track to queue and whether its metadata is the catalog's (False only for a source
    without a catalog here, under ALLOW_UNVERIFIED_TRACKS)."""

    track: Track
    verified: bool


async def trusted_track(
    uow: UnitOfWork,
    catalog: CatalogService,
    *,
    source: Source,
    track_id: str,
    host_provider: str,
    storefront: str,
    sent: Track | None = None,
    allow_unverified: bool = False,
) -> TrustedTrack:
    """The track `(source, track_id)` as the catalog describes it, in the version the host can
    play. A row already verified in the songs table is used as stored (no provider call, so
    it can be added while the provider is down); otherwise the catalog is asked
    (CatalogService.verify: 422 `track_not_found`, 422 `catalog_not_configured`, 503
    `catalog_unavailable`). Cross-catalog matching starts from that verified track. `sent`
    (the client's own description) is used only for a source this server has no catalog
    for, and only when the operator allowed unverified tracks."""
    stored = await repository.find(uow.session, source, track_id)
    if stored is not None and stored.verified_at is not None:
        metrics.VERIFICATIONS.labels(source, "stored").inc()
        track = track_of(stored)
    elif allow_unverified and sent is not None and not catalog.has(source):
        metrics.VERIFICATIONS.labels(source, "unverified").inc()
        log.warning("catalog_track_unverified", source=source, track_id=track_id)
        return TrustedTrack(track=sent, verified=False)
    else:
        track = await catalog.verify(source, track_id, storefront=storefront)
    resolved = await catalog.resolve_for_host(
        track, host_provider=host_provider, storefront=storefront
    )
    return TrustedTrack(track=resolved, verified=True)


async def song_id(uow: UnitOfWork, trusted: TrustedTrack) -> uuid.UUID:
    """The stored row of the track. A verified track is inserted with `verified_at`; a row
    left with a client's text (before migration 0003, or unverified) is overwritten with the
    catalog's values: the poisoned row heals. That overwrite is the server's own write (the
    user role may insert songs but never update them, docs/RLS.md). An unverified track
    never replaces a stored row."""
    db, track = uow.session, trusted.track
    if not trusted.verified:
        return await repository.insert(db, track, verified_at=None)
    now = utcnow()
    existing = await repository.find(db, track.source, track.id)
    if existing is None:
        return await repository.insert(db, track, verified_at=now)
    if existing.verified_at is None:
        async with uow.as_system():
            await repository.overwrite(db, existing.id, track, now)
        log.info("catalog_song_healed", source=track.source, track_id=track.id)
    return existing.id
