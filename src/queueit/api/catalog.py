"""/api/v1/spotify/search (kept for the iOS app) and /api/v1/catalog/search."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BeforeValidator

from queueit.api.deps import CurrentUser, State, Uow, rate_limited
from queueit.catalog.schemas import Source
from queueit.core.openapi import errors_for
from queueit.core.ratelimit import Scope
from queueit.core.routing import PrefixRouter
from queueit.core.text import REQUIRED_TEXT_PATTERN, clean_text, text_schema
from queueit.flows import searching
from queueit.party.schemas import MarkedSearchResults, MarkedTrackList

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
    response_model=MarkedTrackList,
    summary="Search tracks (iOS app)",
    responses=errors_for(401, 422, 429, 503),
)
async def spotify_search(
    uow: Uow, state: State, user: CurrentUser, q: SearchText, limit: Limit = 10
) -> MarkedTrackList:
    """Searches Spotify in your storefront when the server has Spotify credentials; otherwise
    the server's default catalog (the local demo catalog out of the box), so the app works in
    demo mode — check each track's `source`. Each track carries your party's marks, as on
    `/catalog/search`. A provider that rate-limits or fails gives 503 `catalog_unavailable`
    (with `Retry-After` when known); an odd item is left out."""
    return await searching.search_spotify_compatible(
        uow,
        actor=user,
        catalog=state.catalog,
        query=q,
        limit=limit,
        max_songs_per_guest=state.settings.max_songs_per_guest,
    )


@router.get(
    "/catalog/search",
    dependencies=[Depends(rate_limited(Scope.SEARCH))],
    response_model=MarkedSearchResults,
    summary="Search a music catalog",
    responses=errors_for(401, 404, 422, 429, 503),
)
async def catalog_search(
    uow: Uow,
    state: State,
    user: CurrentUser,
    q: SearchText,
    limit: Limit = 10,
    source: SourceParam = None,
) -> MarkedSearchResults:
    """Searches `source` (`local`, `spotify` or `apple_music`; 404
    `catalog_source_not_configured` when this server has no credentials for it), or the
    server's default catalog, in your storefront. The response names the catalog used.
    Results are cached briefly, so repeated searches are cheap.

    Each track carries your party's marks, from the same check `POST /songs/add` makes:
    `allowed` (adding it now would be accepted), `reason` (`{code, message}`: what the add
    would answer, else null), `already_queued` (it waits in the queue: adding it is an
    upvote) and `my_vote` (1, -1 or null). In no active party: allowed, no reason, not
    queued, no vote."""
    return await searching.search(
        uow,
        actor=user,
        catalog=state.catalog,
        query=q,
        limit=limit,
        source=source,
        max_songs_per_guest=state.settings.max_songs_per_guest,
    )
