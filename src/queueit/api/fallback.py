"""/api/v1/sessions/current/fallback: the host's fallback source, which keeps the music
going when the queue runs low (docs/DOMAIN.md "Fallback source")."""

from __future__ import annotations

from fastapi import Response

from queueit.api.deps import CurrentUser, State, Uow
from queueit.core.openapi import errors_for
from queueit.core.routing import PrefixRouter
from queueit.flows import fallback as fallback_flow
from queueit.party import fallback_source
from queueit.party.fallback_schemas import FallbackIn, FallbackOut

router = PrefixRouter(prefix="/sessions", tags=["sessions"])


@router.get(
    "/current/fallback",
    response_model=FallbackOut | None,
    summary="Your party's fallback source",
    responses=errors_for(401, 404, 429),
)
async def read(uow: Uow, user: CurrentUser) -> FallbackOut | None:
    """The fallback source of the party you are in (members), or `null` when the host set
    none: its kind, a label, how many tracks it has and how many autofill took this round,
    and its first 50 tracks."""
    return await fallback_source.read(uow, actor=user)


@router.put(
    "/current/fallback",
    response_model=FallbackOut,
    summary="Set your party's fallback source",
    responses=errors_for(400, 401, 403, 404, 422, 429, 503),
)
async def replace(uow: Uow, user: CurrentUser, state: State, body: FallbackIn) -> FallbackOut:
    """Host only. `{"kind": "tracks", "tracks": [{"source", "id"}...]}` (catalog track ids,
    in order), `{"kind": "playlist", "source": "spotify" | "apple_music", "playlist_id"}`
    (the provider's playlist, read by the server) or `{"kind": "catalog", "seed": "queen"}`
    (the local catalog's best matches). At most 500 tracks; each is the catalog's record in
    the version the host plays. When fewer than `settings.min_queue` songs wait, fallback
    entries fill in at once (an idle party starts playing). 403 `not_host`; 422
    `track_not_found`, `fallback_empty`, `fallback_source_not_supported`; 404
    `catalog_source_not_configured`; 503 `catalog_unavailable` (nothing changed)."""
    return await fallback_flow.set_fallback(uow, actor=user, body=body, catalog=state.catalog)


@router.delete(
    "/current/fallback",
    status_code=204,
    summary="Clear your party's fallback source",
    responses=errors_for(401, 403, 404, 429),
)
async def clear(uow: Uow, user: CurrentUser) -> Response:
    """Host only: autofill stops; fallback entries already waiting stay in the queue."""
    await fallback_source.clear(uow, actor=user)
    return Response(status_code=204)
