"""Re-verify stored tracks (`queueit reverify-tracks`): every songs row whose text did not come
from the catalog (`verified_at` NULL: stored by a version before migration 0003) is looked up
again, in batches. A track the catalog knows gets the catalog's values; a track it does not
know, or of a source this server has no catalog for, keeps its row (queued songs point at it)
but loses the client's text, so nobody is ever shown it. Provider errors leave the rows as
they are for the next run."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import cast

import structlog

from queueit.catalog import repository
from queueit.catalog.errors import CatalogUnavailable
from queueit.catalog.models import Song
from queueit.catalog.schemas import Source, Track
from queueit.catalog.service import CatalogService
from queueit.core.types import utcnow
from queueit.core.uow import Database, open_uow

log = structlog.get_logger(__name__)

UNKNOWN_NAME = "Unknown track"
UNKNOWN_ARTISTS = "Unknown artist"


@dataclass
class ReverifyReport:
    verified: int = 0  # now carry the catalog's values
    unknown: int = 0  # the catalog has no such track (or no catalog here): text replaced
    unavailable: int = 0  # the provider failed: left for the next run
    kept: int = 0  # a source without a catalog, kept as sent under ALLOW_UNVERIFIED_TRACKS
    gone: int = 0  # (refresh) verified before, no longer in the catalog: left as it was


def _scrubbed(song: Song) -> Track:
    return Track.model_construct(
        id=song.provider_id,
        isrc="",
        name=UNKNOWN_NAME,
        artists=UNKNOWN_ARTISTS,
        album="",
        duration_ms=0,
        image_url=None,
        source=cast(Source, song.source),
        explicit=None,
    )


async def reverify_stored(
    database: Database,
    catalog: CatalogService,
    *,
    storefront: str = "us",
    batch: int = 200,
    keep_unconfigured: bool = False,
    refresh: bool = False,
) -> ReverifyReport:
    """One pass over the unverified rows (see the module docstring); with `refresh`, over
    every row, so verified ones take the catalog's current values too (a verified track the
    catalog no longer knows keeps its text, which was the catalog's). Provider calls are made
    between transactions, never while a transaction is open."""
    report = ReverifyReport()
    after: uuid.UUID | None = None
    while True:
        async with open_uow(database, system=True) as uow:
            rows = await repository.to_reverify(
                uow.session, after=after, limit=batch, everything=refresh
            )
        if not rows:
            return report
        after = rows[-1].id
        groups: dict[Source, list[Song]] = defaultdict(list)
        for row in rows:
            groups[cast(Source, row.source)].append(row)
        heal: list[tuple[uuid.UUID, Track, bool]] = []
        for source, group in groups.items():
            if not catalog.has(source):
                group = [row for row in group if row.verified_at is None]
                if keep_unconfigured:
                    report.kept += len(group)
                else:
                    heal.extend((row.id, _scrubbed(row), False) for row in group)
                    report.unknown += len(group)
                continue
            ids = [row.provider_id for row in group]
            try:
                found = await catalog.lookup_many(source, ids, storefront=storefront)
            except CatalogUnavailable:
                report.unavailable += len(group)
                continue
            for row in group:
                track = found.get(row.provider_id)
                if track is None and row.verified_at is not None:
                    report.gone += 1
                    continue
                heal.append((row.id, track or _scrubbed(row), track is not None))
                report.verified += track is not None
                report.unknown += track is None
        async with open_uow(database, system=True) as uow:
            now = utcnow()
            for song_id, track, verified in heal:
                await repository.overwrite(uow.session, song_id, track, now if verified else None)
        log.info("catalog_tracks_reverified", **vars(report))
