"""/api/v1/sessions/{id}/members, /bans, /hand-over: the people of a party as its host and
co-hosts manage them (co-hosts, kicks, bans, a new host). Who may do what: party/roles.py."""

from __future__ import annotations

import uuid

from queueit.api.deps import CurrentUser, Uow
from queueit.core.openapi import errors_for
from queueit.core.routing import PrefixRouter
from queueit.core.schemas import OkOut
from queueit.party import members
from queueit.party.schemas import HandOverIn, RemoveMemberIn

router = PrefixRouter(prefix="/sessions", tags=["sessions"])


@router.post(
    "/{session_id:uuid}/members/{user_id:uuid}/co-host",
    response_model=OkOut,
    summary="Make a member a co-host",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def grant_co_host(
    uow: Uow, user: CurrentUser, session_id: uuid.UUID, user_id: uuid.UUID
) -> OkOut:
    """Host only: `user_id`, in the party now, becomes a co-host (skips, locks, pauses,
    removes songs, kicks and bans guests; cannot end the party or change roles). Idempotent.
    Every socket gets `roles.updated`. 404 `member_not_found` when they are not in it."""
    await members.grant_co_host(uow, actor=user, party_id=session_id, user_id=user_id)
    return OkOut()


@router.delete(
    "/{session_id:uuid}/members/{user_id:uuid}/co-host",
    response_model=OkOut,
    summary="Make a co-host a guest again",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def revoke_co_host(
    uow: Uow, user: CurrentUser, session_id: uuid.UUID, user_id: uuid.UUID
) -> OkOut:
    """Host only: `user_id` is a guest again (a no-op when they were one). Every socket gets
    `roles.updated`."""
    await members.revoke_co_host(uow, actor=user, party_id=session_id, user_id=user_id)
    return OkOut()


@router.post(
    "/{session_id:uuid}/members/{user_id:uuid}/kick",
    response_model=OkOut,
    summary="Remove a member (they may join again)",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def kick(
    uow: Uow,
    user: CurrentUser,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    body: RemoveMemberIn | None = None,
) -> OkOut:
    """Host or co-host: `user_id` leaves the party; their sockets close with 4410. They may
    join again with the code. With `remove_songs`, their waiting songs leave the queue and
    their votes are withdrawn. 403 `cannot_remove_host` for the host; only the host removes
    a co-host (403 `not_host`); 403 `not_manager` for a guest; 404 `member_not_found`."""
    remove_songs = body.remove_songs if body else False
    await members.kick(
        uow, actor=user, party_id=session_id, user_id=user_id, remove_songs=remove_songs
    )
    return OkOut()


@router.post(
    "/{session_id:uuid}/members/{user_id:uuid}/ban",
    response_model=OkOut,
    summary="Ban a member from the party",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def ban(
    uow: Uow,
    user: CurrentUser,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    body: RemoveMemberIn | None = None,
) -> OkOut:
    """Host or co-host: as a kick, and `user_id` cannot join this party again (403 `banned`),
    nor can a fresh guest from the address they joined from, unless it is the host's own
    network (docs/DOMAIN.md "Roles"). Also for someone who already left the party."""
    remove_songs = body.remove_songs if body else False
    await members.ban(
        uow, actor=user, party_id=session_id, user_id=user_id, remove_songs=remove_songs
    )
    return OkOut()


@router.delete(
    "/{session_id:uuid}/bans/{user_id:uuid}",
    response_model=OkOut,
    summary="Lift a ban",
    responses=errors_for(401, 403, 404, 422, 429),
)
async def unban(uow: Uow, user: CurrentUser, session_id: uuid.UUID, user_id: uuid.UUID) -> OkOut:
    """Host or co-host: `user_id` may join again. 404 `ban_not_found` when they are not
    banned."""
    await members.unban(uow, actor=user, party_id=session_id, user_id=user_id)
    return OkOut()


@router.post(
    "/{session_id:uuid}/hand-over",
    response_model=OkOut,
    summary="Hand the party to another host",
    responses=errors_for(401, 403, 404, 409, 422, 429),
)
async def hand_over(uow: Uow, user: CurrentUser, session_id: uuid.UUID, body: HandOverIn) -> OkOut:
    """Host only: `user_id` (in the party now, with an account) becomes the host; the old host
    stays as `old_host_becomes` (`co_host` or `guest`). Every socket gets `roles.updated`.
    409 `guest_cannot_take_over` for a guest or someone not in the party, 409
    `member_hosts_another_party` when they host another active party."""
    await members.hand_over(
        uow,
        actor=user,
        party_id=session_id,
        user_id=body.user_id,
        old_host_becomes=body.old_host_becomes,
    )
    return OkOut()
