"""/api/v1/sessions: parties (a party is a "session" in the API), their state, host controls
and crowd skip."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

from queueit.api.deps import (
    Bearer,
    ClientAddress,
    CurrentUser,
    State,
    Uow,
    bearer_claims,
    caller_uow,
    rate_limited,
)
from queueit.api.responses import json_response
from queueit.api.state import AppState
from queueit.core.openapi import errors_for
from queueit.core.ratelimit import Scope
from queueit.core.routing import PrefixRouter
from queueit.core.schemas import OkOut
from queueit.flows import export_playlist
from queueit.party import export as party_export
from queueit.party import lifecycle, playback, read_model, rule_changes, snapshot, songs
from queueit.party.rules import PartySettings
from queueit.party.schemas import (
    ControlIn,
    CurrentSessionOut,
    ExportFormat,
    HistoryExportOut,
    PlaylistExportIn,
    PlaylistExportOut,
    QueuePage,
    SessionCreateIn,
    SessionJoinIn,
    SkipOut,
    SongFinishedIn,
    SongsRemovedOut,
)

router = PrefixRouter(prefix="/sessions", tags=["sessions"])

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1-500).")]
Offset = Annotated[int, Query(ge=0, le=100_000, description="Items to skip.")]


@router.post(
    "/create",
    dependencies=[
        Depends(rate_limited(Scope.SESSIONS_CREATE)),
        Depends(rate_limited(Scope.SESSIONS_CODES)),
    ],
    response_model=CurrentSessionOut,
    summary="Host a party",
    responses=errors_for(400, 401, 403, 409, 422, 429),
)
async def create(
    uow: Uow, user: CurrentUser, address: ClientAddress, body: SessionCreateIn | None = None
) -> CurrentSessionOut:
    """Open a party hosted by the caller, who must have an account (not a guest) and a music
    provider. Without `join_code` the server generates a 6-character code. The code is
    trimmed and upper-cased; 409 `join_code_taken` when another active party has it. A host
    has one active party: opening a new one ends the previous one (its members get
    `session.ended` with reason `host_opened_another`); 409 `already_hosting` only when two
    creates of one host race and the other one won. Code reservations are limited per account
    (10 an hour, 30 a day)."""
    return await lifecycle.create(
        uow, actor=user, join_code=body.join_code if body else None, address=address
    )


@router.post(
    "/join",
    dependencies=[
        Depends(rate_limited(Scope.SESSIONS_JOIN_IP, by_ip=True)),
        Depends(rate_limited(Scope.SESSIONS_JOIN)),
    ],
    response_model=CurrentSessionOut,
    summary="Join a party by code",
    responses=errors_for(401, 404, 409, 422, 429),
)
async def join(
    uow: Uow,
    user: CurrentUser,
    state: State,
    address: ClientAddress,
    body: SessionJoinIn,
) -> CurrentSessionOut:
    """Join the active party with this code (case-insensitive), leaving any other party. A
    party takes a limited number of new members a minute (429). 409 `name_imitates_host`
    when your name passes for the host's (case, accents, look-alike letters and separators
    aside; docs/SECURITY.md)."""

    async def admit(party_id: uuid.UUID) -> None:
        if state.limiter is not None:
            await state.limiter.enforce(Scope.SESSIONS_JOIN_PARTY, f"party:{party_id}")

    return await lifecycle.join(
        uow, actor=user, join_code=body.join_code, address=address, admit=admit
    )


@router.get(
    "/current",
    response_model=CurrentSessionOut,
    summary="Your party's state",
    responses=errors_for(401, 404, 422, 429),
)
async def current(
    request: Request,
    credentials: Bearer,
    response: Response,
    queue_limit: Limit = 100,
    queue_offset: Offset = 0,
) -> Response:
    """The party you are in: now playing, the queue in play order (paged), your votes, skip
    and participant counts. 404 `no_active_session` when you are in none (or it ended).
    `participant_count`, `skip_request_count` and the members' names may be up to 2 seconds
    old; everything else is as of the request (a change made through another server process
    once its event reached this one, at most 2 seconds later)."""
    # Not `Uow` + `CurrentUser` (nor `State`: each dependency costs its resolution): a
    # read-model hit is answered from the caller's kept row or in one statement
    # (party/read_model_caller.py); the unit of work opens only when that does not apply.
    state: AppState = request.app.state.ctx
    claims = await bearer_claims(request, state, credentials)
    body = await state.fast_path.current(
        cache=state.read_model,
        claims=claims,
        queue_limit=queue_limit,
        queue_offset=queue_offset,
    )
    if body is None:
        async with caller_uow(state, claims) as (uow, user):
            body = await read_model.current(
                uow,
                cache=state.read_model,
                actor=user,
                queue_limit=queue_limit,
                queue_offset=queue_offset,
            )
    return json_response(body, headers_from=response)


@router.get(
    "/current/settings",
    response_model=PartySettings,
    summary="Your party's rules",
    responses=errors_for(401, 404, 429),
)
async def settings(uow: Uow, user: CurrentUser) -> PartySettings:
    """The rules the host set for the party you are in (docs/DOMAIN.md "Party rules"); also
    in the snapshot as `session.settings`."""
    return await rule_changes.read(uow, actor=user)


@router.patch(
    "/current/settings",
    response_model=PartySettings,
    summary="Change your party's rules",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def change_settings(uow: Uow, user: CurrentUser, body: PartySettings) -> PartySettings:
    """Host only: change the fields the body names (the others keep their values) and get
    every rule back. Each member's socket gets one `session.updated` with the new
    `settings` and version. 422 `settings_invalid` for a value out of range."""
    patch = body.model_dump(mode="json", include=body.model_fields_set)
    return await rule_changes.change(uow, actor=user, patch=patch)


@router.get(
    "/{session_id:uuid}/queue",
    response_model=QueuePage,
    summary="A party's queue",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def queue(
    uow: Uow, user: CurrentUser, session_id: uuid.UUID, limit: Limit = 100, offset: Offset = 0
) -> QueuePage:
    """Queued songs in play order, paged. Members only."""
    return await snapshot.queue_page(
        uow, actor=user, party_id=session_id, limit=limit, offset=offset
    )


@router.get(
    "/{session_id:uuid}/history",
    response_model=QueuePage,
    summary="What played",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def history(
    uow: Uow, user: CurrentUser, session_id: uuid.UUID, limit: Limit = 100, offset: Offset = 0
) -> QueuePage:
    """Played and skipped songs, newest first. Members only."""
    return await snapshot.history_page(
        uow, actor=user, party_id=session_id, limit=limit, offset=offset
    )


_EXPORT_CONTENT: dict[str, Any] = {
    "text/csv": {"schema": {"type": "string"}, "example": "played_at,finished_at,status,..."},
    "audio/x-mpegurl": {"schema": {"type": "string"}, "example": "#EXTM3U\n#EXTINF:213,..."},
}


@router.get(
    "/{session_id:uuid}/history/export",
    response_class=Response,
    summary="Download the history (JSON, CSV, M3U)",
    responses={
        200: {
            "model": HistoryExportOut,
            "description": "The whole history in play order, as an attachment",
            "content": _EXPORT_CONTENT,
        },
        **errors_for(401, 403, 404, 422, 429),
    },
)
async def export_history(
    uow: Uow,
    user: CurrentUser,
    session_id: uuid.UUID,
    format: Annotated[ExportFormat, Query(description="`json`, `csv` or `m3u`.")],
) -> Response:
    """Host only, also after the party ended: every played and skipped song in play order
    (oldest first), as a file to save (`Content-Disposition: attachment`,
    `queueit-<join code>-<date>.<json|csv|m3u8>`). `json` is `HistoryExportOut`; `csv` has one
    header row and one row per song (RFC 4180; a text cell starting with `= + - @`, tab or CR
    gets a leading `'`); `m3u` is extended M3U with `spotify:track:<id>`, Apple Music URLs or
    `queueit:local:<id>`. 403 `not_host` for anyone but the host, 404 for an unknown party."""
    export = await party_export.export_history(uow, actor=user, party_id=session_id, fmt=format)
    return Response(
        content=export.body,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/{session_id:uuid}/export/spotify",
    dependencies=[Depends(rate_limited(Scope.SESSIONS_EXPORT))],
    response_model=PlaylistExportOut,
    summary="Save the history as a playlist in the host's Spotify account",
    responses=errors_for(401, 403, 404, 422, 429, 503),
)
async def export_to_spotify(
    uow: Uow, user: CurrentUser, state: State, session_id: uuid.UUID, body: PlaylistExportIn
) -> PlaylistExportOut:
    """Host only, also after the party ended, for a party hosted with Spotify: a new playlist
    in the host's account with every Spotify track of the history in play order (songs of
    other catalogs are left out and counted in `skipped`). `access_token` is the host's own
    Spotify token (scope `playlist-modify-private`, and `playlist-modify-public` for
    `public: true`); the server uses it for this request only and never stores, logs or
    returns it. 403 `not_host`; 422 `export_not_supported` (the host plays Apple Music),
    `nothing_to_export`, `provider_token_invalid` (Spotify refused the token: sign in to
    Spotify again); 403 `provider_scope_missing`; 503 `catalog_unavailable` (Spotify failed
    or rate-limits; no playlist was made, or none is known: creating is never retried) or
    `playlist_incomplete` (the playlist exists but not all songs could be added)."""
    return await export_playlist.export_to_spotify(
        uow,
        actor=user,
        party_id=session_id,
        playlists=state.playlists,
        access_token=body.access_token.get_secret_value(),
        name=body.name,
        public=body.public,
    )


@router.post(
    "/leave", response_model=OkOut, summary="Leave your party", responses=errors_for(401, 429)
)
async def leave(uow: Uow, user: CurrentUser) -> OkOut:
    """Leave the party you are in (a no-op when in none); withdraws your skip request."""
    await lifecycle.leave(uow, actor=user)
    return OkOut()


@router.patch(
    "/control_session",
    response_model=OkOut,
    summary="Host controls",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def control_session(uow: Uow, user: CurrentUser, body: ControlIn) -> OkOut:
    """Host only: lock the queue for guests, pause or resume, skip the current track."""
    await playback.control(uow, actor=user, body=body)
    return OkOut()


@router.post(
    "/song_finished",
    response_model=OkOut,
    summary="The current song ended",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def song_finished(uow: Uow, user: CurrentUser, body: SongFinishedIn | None = None) -> OkOut:
    """Host only: the player finished `queued_song_id`; the next song starts. Idempotent: when
    that song is no longer current nothing happens, so retries never advance twice."""
    await playback.song_finished(
        uow, actor=user, queued_song_id=body.queued_song_id if body else None
    )
    return OkOut()


@router.post(
    "/request_skip",
    response_model=SkipOut,
    summary="Ask to skip the current song",
    responses=errors_for(401, 404, 409, 429),
)
async def request_skip(uow: Uow, user: CurrentUser) -> SkipOut:
    """Members ask to skip; when more than half of the participants asked, the song is skipped
    (`skipped: true`). Participants are members active within the presence window, plus the
    host. 409 `nothing_playing` when nothing plays."""
    return await playback.request_skip(uow, actor=user)


@router.delete(
    "/request_skip",
    response_model=SkipOut,
    summary="Withdraw your skip request",
    responses=errors_for(401, 404, 429),
)
async def withdraw_skip(uow: Uow, user: CurrentUser) -> SkipOut:
    """Take back your request to skip the current song."""
    return await playback.withdraw_skip(uow, actor=user)


@router.post(
    "/end", response_model=OkOut, summary="End your party", responses=errors_for(401, 403, 404, 429)
)
async def end(uow: Uow, user: CurrentUser) -> OkOut:
    """Host only: end the party. Members get `session.ended`; the join code is freed."""
    await lifecycle.end(uow, actor=user)
    return OkOut()


@router.delete(
    "/current/members/{user_id}/songs",
    response_model=SongsRemovedOut,
    summary="Remove every song of one guest",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def remove_member_songs(uow: Uow, user: CurrentUser, user_id: uuid.UUID) -> SongsRemovedOut:
    """Host only: take every song `user_id` has waiting out of the queue at once (each
    queued song's `added_by` says who added it). One `queue.updated` event, one version;
    `removed` is 0 when they have none. History is untouched."""
    removed = await songs.remove_songs_of(uow, actor=user, user_id=user_id)
    return SongsRemovedOut(removed=removed)
