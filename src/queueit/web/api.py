"""/api/v1/sessions/{id}/tv_link, /tv_state and /qr.svg: what the web pages need beyond the
app's API (mounted under /api/v1 by create_app)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Request, Response

from queueit.api.deps import Bearer, CurrentUser, State, Uow, get_claims
from queueit.core.openapi import errors_for
from queueit.core.routing import PrefixRouter
from queueit.flows import views
from queueit.party.schemas import CurrentSessionOut
from queueit.users import service as users_service
from queueit.web import service, tv
from queueit.web.schemas import TvLinkOut

api_router = PrefixRouter(prefix="/sessions", tags=["web"])
# A TV token is about 300 characters; the cap keeps every URL well under what uvicorn reads.
TvToken = Annotated[
    str,
    Query(
        max_length=1024,
        description="The token of a TV link (`POST /sessions/{id}/tv_link`).",
    ),
]
SVG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The QR code, an SVG image",
        "content": {"image/svg+xml": {"schema": {"type": "string"}}},
    }
}
# The SVG is an image, never a document that could run anything.
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Cache-Control": "private, max-age=300",
}


@api_router.post(
    "/{session_id:uuid}/tv_link",
    response_model=TvLinkOut,
    summary="Get the TV link of your party",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def tv_link(uow: Uow, user: CurrentUser, state: State, session_id: uuid.UUID) -> TvLinkOut:
    """Host only: a link that shows the party on a TV (`/tv/{id}?token=...`). The token is
    signed by the server, read-only, valid for this party only and for
    `TV_LINK_TTL_SECONDS` (12 h by default); anyone holding the link sees what the TV shows.
    `absolute_url` is on PUBLIC_BASE_URL; when that is unset it equals the relative `url`.
    403 `not_host` for anyone but the host, 404 when the party is not active."""
    settings = state.settings
    return await service.tv_link(
        uow,
        actor=user,
        party_id=session_id,
        key=state.tv_key,
        ttl_seconds=settings.tv_link_ttl_seconds,
        # Never the request's Host header: a link that leaves the server is built on
        # PUBLIC_BASE_URL only (unset: `absolute_url` is the relative `url`).
        base=settings.public_base_url.rstrip("/"),
    )


@api_router.get(
    "/{session_id:uuid}/tv_state",
    response_model=CurrentSessionOut,
    summary="The party as its TV shows it",
    responses=errors_for(401, 404, 422, 429),
)
async def tv_state(
    response: Response, uow: Uow, state: State, session_id: uuid.UUID, token: TvToken = ""
) -> CurrentSessionOut:
    """Read-only `CurrentSession` for the holder of a TV link (`?token=`, no Authorization):
    now playing, the first 20 queued songs, participant and skip counts; `my_votes` is always
    empty. 401 when the token is missing, expired, forged or for another party; 404
    `no_active_session` once the party ended. The TV page polls it every 2 s."""
    tv.verify(state.tv_key, token, party_id=session_id, leeway=state.settings.jwt_leeway_seconds)
    await uow.act_as_viewer(session_id)  # row-level security: this party, read only
    response.headers["Cache-Control"] = "no-store"
    return await views.tv_view(uow, party_id=session_id)


@api_router.get(
    "/{session_id:uuid}/qr.svg",
    response_class=Response,
    summary="The join QR code of a party",
    responses={**SVG_RESPONSE, **errors_for(401, 403, 404, 422, 429)},
)
async def qr_svg(
    request: Request,
    uow: Uow,
    state: State,
    session_id: uuid.UUID,
    credentials: Bearer,
    token: TvToken = "",
) -> Response:
    """An SVG QR code of the party's join link, `{PUBLIC_BASE_URL}/join?code=CODE` (the
    request's own origin when PUBLIC_BASE_URL is unset). For members and the host
    (`Authorization: Bearer`), or for a TV link (`?token=`). 403 `not_member`, 404 when the
    party is not active."""
    if token:
        tv.verify(
            state.tv_key, token, party_id=session_id, leeway=state.settings.jwt_leeway_seconds
        )
        await uow.act_as_viewer(session_id)
        code = await service.join_code_for_tv(uow, party_id=session_id)
    else:
        claims = await get_claims(request, state, credentials)
        user = await users_service.current_user(uow, claims=claims)
        code = await service.join_code_for_member(uow, actor=user, party_id=session_id)
    base = service.public_base(state.settings.public_base_url, str(request.base_url))
    return Response(
        service.qr_svg(service.join_url(base, code)),
        media_type="image/svg+xml",
        headers=SVG_HEADERS,
    )
