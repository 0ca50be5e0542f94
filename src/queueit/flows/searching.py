"""Searching a catalog as a party member: the catalog finds the tracks (its cached search,
the same for everyone), the caller's party marks them (party/marking.py: may they add it,
why not, is it queued, their vote), per request, after the search."""

from __future__ import annotations

from collections.abc import Sequence

from queueit.catalog.schemas import Source, Track
from queueit.catalog.service import CatalogService
from queueit.core.uow import UnitOfWork
from queueit.party import marking
from queueit.party.schemas import MarkedSearchResults, MarkedTrack, MarkedTrackList, ReasonOut
from queueit.users.models import User


async def search(
    uow: UnitOfWork,
    *,
    actor: User,
    catalog: CatalogService,
    query: str,
    limit: int,
    source: Source | None,
    max_songs_per_guest: int,
) -> MarkedSearchResults:
    """`GET /catalog/search`: `source`'s (or the default catalog's) tracks, marked."""
    results = await catalog.search(query=query, limit=limit, market=actor.storefront, source=source)
    tracks = await _marked(uow, actor, results.tracks, max_songs_per_guest=max_songs_per_guest)
    return MarkedSearchResults(tracks=tracks, source=results.source)


async def search_spotify_compatible(
    uow: UnitOfWork,
    *,
    actor: User,
    catalog: CatalogService,
    query: str,
    limit: int,
    max_songs_per_guest: int,
) -> MarkedTrackList:
    """`GET /spotify/search`: Spotify's tracks when configured (else the default catalog's),
    marked."""
    results = await catalog.search_spotify_compatible(
        query=query, limit=limit, market=actor.storefront
    )
    tracks = await _marked(uow, actor, results.tracks, max_songs_per_guest=max_songs_per_guest)
    return MarkedTrackList(tracks=tracks)


async def _marked(
    uow: UnitOfWork, actor: User, tracks: Sequence[Track], *, max_songs_per_guest: int
) -> list[MarkedTrack]:
    marks = await marking.marks(
        uow, actor=actor, tracks=tracks, max_songs_per_guest=max_songs_per_guest
    )
    return [
        MarkedTrack.model_construct(
            **{name: getattr(track, name) for name in Track.model_fields},
            allowed=mark.allowed,
            reason=None
            if mark.refusal is None
            else ReasonOut(code=mark.refusal.code, message=mark.refusal.detail),
            already_queued=mark.already_queued,
            my_vote=mark.my_vote,
        )
        for track, mark in zip(tracks, marks, strict=True)
    ]
