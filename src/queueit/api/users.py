"""/api/v1/users/me"""

from __future__ import annotations

from fastapi import Response

from queueit.api.deps import CurrentUser, Uow
from queueit.core.openapi import errors_for
from queueit.core.routing import PrefixRouter
from queueit.flows import account, profile
from queueit.users.schemas import UserOut, UserUpdate

router = PrefixRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserOut, summary="Your profile", responses=errors_for(401, 429))
async def get_me(user: CurrentUser) -> UserOut:
    """The caller's profile, created on the first authenticated request."""
    return UserOut.model_validate(user)


@router.patch(
    "/me",
    response_model=UserOut,
    summary="Edit your profile",
    responses=errors_for(401, 403, 409, 422, 429),
)
async def patch_me(uow: Uow, user: CurrentUser, body: UserUpdate) -> UserOut:
    """Set a username (full accounts only: 403 `username_needs_account` for guests; 3-30
    letters, digits, `-`, `_`; unique regardless of case; 409 `name_imitates_host` when it
    passes for the host of your party), the name you go by (`display_name`, 1-30 characters,
    anyone, guests included; the same host rule), your music
    provider (`apple`, `spotify`, `none`) or your storefront (two-letter region code)."""
    updated = await profile.update_profile(uow, user=user, changes=body)
    return UserOut.model_validate(updated)


@router.delete(
    "/me", status_code=204, summary="Delete your account", responses=errors_for(401, 429)
)
async def delete_me(uow: Uow, user: CurrentUser) -> Response:
    """Deletes your votes, skip requests and profile, and ends the sessions you host. Tokens
    issued before the deletion stop working (401 `account_deleted`)."""
    await account.delete_account(uow, user=user)
    return Response(status_code=204)
