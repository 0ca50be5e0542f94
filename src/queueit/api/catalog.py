"""/api/v1/spotify/search (kept for the iOS app) and /api/v1/catalog/search."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BeforeValidator

from queueit.api.deps import CurrentUser, State, rate_limited
from queueit.catalog.schemas import SearchResults, Source, TrackList
from queueit.core.openapi import errors_for
from queueit.core.ratelimit import Scope
from queueit.core.routing import PrefixRouter
from queueit.core.text import REQUIRED_TEXT_PATTERN, clean_text, text_schema

router = PrefixRouter(tags=["catalog"])

SearchText = Annotated[
    str,
    BeforeValidator(clean_text),
    text_schema(200, minLength=1, pattern=REQUIRED_TEXT_PATTERN),
    Query(
        min_length=1,
        max_length=200,
        description="What to look for (1-200 characters after trimming).",
        examples=["beat it"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=50, description="How many tracks, at most.")]
SourceParam = Annotated[
    Source | None,
    Query(description="A configured catalog; the server's default (CATALOG_PROVIDER) if absent."),
]


@router.get(
    "/spotify/search",
    dependencies=[Depends(rate_limited(Scope.SEARCH))],
    response_model=TrackList,
    summary="Search tracks (iOS app)",
    responses=errors_for(401, 422, 429, 503),
)
async def spotify_search(
    state: State, user: CurrentUser, q: SearchText, limit: Limit = 10
) -> TrackList:
    """Searches Spotify in your storefront when the server has Spotify credentials; otherwise
    the server's default catalog (the local demo catalog out of the box), so the app works in
    demo mode — check each track's `source`. A provider that rate-limits or fails gives 503
    `catalog_unavailable` (with `Retry-After` when known); an odd item is left out."""
    results = await state.catalog.search_spotify_compatible(
        query=q, limit=limit, market=user.storefront
    )
    return TrackList(tracks=results.tracks)


@router.get(
    "/catalog/search",
    dependencies=[Depends(rate_limited(Scope.SEARCH))],
    response_model=SearchResults,
    summary="Search a music catalog",
    responses=errors_for(401, 404, 422, 429, 503),
)
async def catalog_search(
    state: State,
    user: CurrentUser,
    q: SearchText,
    limit: Limit = 10,
    source: SourceParam = None,
) -> SearchResults:
    """Searches `source` (`local`, `spotify` or `apple_music`; 404
    `catalog_source_not_configured` when this server has no credentials for it), or the
    server's default catalog, in your storefront. The response names the catalog used.
    Results are cached briefly, so repeated searches are cheap."""
    return await state.catalog.search(query=q, limit=limit, market=user.storefront, source=source)
