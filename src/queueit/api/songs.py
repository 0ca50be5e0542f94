"""/api/v1/songs: add, remove, vote."""

from __future__ import annotations

import uuid

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from queueit.api.deps import (
    Bearer,
    CurrentUser,
    State,
    Uow,
    bearer_claims,
    caller_uow,
    rate_limited,
)
from queueit.api.responses import Document
from queueit.api.state import AppState
from queueit.core.openapi import errors_for
from queueit.core.ratelimit import Scope
from queueit.core.routing import PrefixRouter
from queueit.core.schemas import OkOut
from queueit.flows import adding
from queueit.party import songs, voting
from queueit.party.schemas import AddSongIn, QueuedSongOut, VoteIn, VoteOut

router = PrefixRouter(prefix="/songs", tags=["songs"])

VOTE = Document(VoteOut)  # the hot route's bytes, serialised once


@router.post(
    "/add",
    dependencies=[Depends(rate_limited(Scope.SONGS_ADD))],
    response_model=QueuedSongOut,
    summary="Add a song to your party's queue",
    responses=errors_for(401, 404, 409, 422, 429, 503),
)
async def add(uow: Uow, user: CurrentUser, state: State, body: AddSongIn) -> QueuedSongOut:
    """Queue a track from a search result. Only `source` and `id` are used: the server looks
    the track up in its catalog and stores and shows the catalog's name, artists, album,
    duration, artwork, ISRC and explicit flag (whatever else was sent is ignored). Adding a
    track already queued counts as your upvote on it. The first song of a party with nothing
    playing starts at once. Guests get 409 `session_locked` while the host has locked the
    queue. 422 `track_not_found` when the catalog has no such track, 422
    `catalog_not_configured` when this server has no catalog for `source`, 422
    `track_unavailable` when the host's catalog has no match, 503 `catalog_unavailable` (with
    `Retry-After`) when the provider is down and the track is not stored yet."""
    return await adding.add_track(
        uow,
        actor=user,
        source=body.source,
        track_id=body.id,
        sent=body.as_sent(),
        catalog=state.catalog,
        max_queue_length=state.settings.max_queue_length,
        max_songs_per_guest=state.settings.max_songs_per_guest,
        allow_unverified=state.settings.allow_unverified_tracks,
    )


@router.delete(
    "/{queued_song_id:uuid}",
    response_model=OkOut,
    summary="Remove a queued song",
    responses=errors_for(401, 403, 404, 409, 429),
)
async def remove(uow: Uow, user: CurrentUser, queued_song_id: uuid.UUID) -> OkOut:
    """The host removes any queued song; whoever added a song may remove it while nobody
    else has voted on it."""
    await songs.remove_song(uow, actor=user, queued_song_id=queued_song_id)
    return OkOut()


@router.post(
    "/{queued_song_id:uuid}/vote",
    dependencies=[Depends(rate_limited(Scope.SONGS_VOTE))],
    response_model=VoteOut,
    summary="Vote on a song",
    responses=errors_for(401, 404, 409, 422, 429),
)
async def vote(
    request: Request,
    credentials: Bearer,
    response: Response,
    queued_song_id: uuid.UUID,
    body: VoteIn,
) -> Response:
    """Cast or change your vote (+1 or -1) on a queued song in your party. `total_votes` is
    the committed total (also when the party's auto-remove took the song out). 409
    `song_not_votable` once the song left the queue; the party's vote rules: 409
    `voting_off`, 409 `downvotes_off`, 429 `downvote_limit` with `Retry-After`."""
    result = await _vote(request, credentials, queued_song_id, body.vote_value)
    return VOTE.response(result, headers_from=response)


@router.delete(
    "/{queued_song_id:uuid}/vote",
    dependencies=[Depends(rate_limited(Scope.SONGS_VOTE))],
    response_model=VoteOut,
    summary="Withdraw your vote",
    responses=errors_for(401, 404, 409, 429),
)
async def unvote(
    request: Request, credentials: Bearer, response: Response, queued_song_id: uuid.UUID
) -> Response:
    """Withdraw your vote on a queued song (always allowed, whatever the party's rules)."""
    result = await _vote(request, credentials, queued_song_id, None)
    return VOTE.response(result, headers_from=response)


async def _vote(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    queued_song_id: uuid.UUID,
    value: int | None,
) -> VoteOut:
    """The vote in one statement where PostgreSQL can settle it (party/vote_fast_path.py),
    else the rule's general path (party/voting.py) in a unit of work. Not `Uow` +
    `CurrentUser` (nor `State`), as GET /sessions/current: each dependency costs its
    resolution, and the unit of work opens only when the one statement does not apply."""
    state: AppState = request.app.state.ctx
    claims = await bearer_claims(request, state, credentials)
    result = await state.vote_fast_path.vote(
        claims=claims, queued_song_id=queued_song_id, value=value
    )
    if result is None:
        async with caller_uow(state, claims) as (uow, user):
            result = await voting.vote(uow, actor=user, queued_song_id=queued_song_id, value=value)
    return result
