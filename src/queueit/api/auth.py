"""/api/v1/auth: local-mode sign-in."""

from __future__ import annotations

from fastapi import Depends

from queueit.api.deps import State, Uow, rate_limited
from queueit.auth import service
from queueit.auth.schemas import AnonymousSignIn, TokenOut
from queueit.core import errors
from queueit.core.openapi import errors_for
from queueit.core.ratelimit import Scope
from queueit.core.routing import PrefixRouter
from queueit.users.schemas import UserOut

router = PrefixRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/anonymous",
    dependencies=[Depends(rate_limited(Scope.AUTH_ANONYMOUS, by_ip=True))],
    response_model=TokenOut,
    summary="Sign in as a guest (local mode)",
    responses=errors_for(404, 422, 429),
)
async def anonymous(uow: Uow, state: State, body: AnonymousSignIn | None = None) -> TokenOut:
    """Issues an access token for a new anonymous guest. Only in local auth mode: when the
    server verifies Supabase tokens this route answers 404 (sign in with Supabase instead)."""
    settings = state.settings
    if settings.auth_mode != "local":
        raise errors.NotFound("Guest sign-in is done through Supabase on this server.")
    token, user = await service.sign_in_anonymous(
        uow,
        secret=state.verifier.hs_secret,
        ttl_seconds=settings.local_token_ttl_seconds,
        display_name=body.display_name if body else None,
    )
    return TokenOut(
        access_token=token,
        expires_in=settings.local_token_ttl_seconds,
        user=UserOut.model_validate(user),
    )
