"""Request dependencies shared by every route (`Annotated` aliases keep routes short)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from queueit.api.state import AppState
from queueit.core import errors
from queueit.core.middleware import client_ip
from queueit.core.ratelimit import Scope
from queueit.core.security import Claims
from queueit.core.settings import Settings
from queueit.core.uow import UnitOfWork, open_uow
from queueit.users import service as users_service
from queueit.users.models import User

_bearer = HTTPBearer(auto_error=False, description="A Supabase or local access token.")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs plain `def` dependencies in a worker thread (a thread hop per request).
    state: AppState = request.app.state.ctx
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_settings(state: State) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_uow(state: State) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work: the only place that commits (before the response is sent:
    the dependency is function-scoped). Events reach the backplane after the commit."""
    async with open_uow(state.database) as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(get_uow, scope="function")]


async def verified_claims(request: Request, state: AppState, token: str) -> Claims:
    """The token's claims, verified once per request (rate limiting keys on them first)."""
    cached: Claims | None = getattr(request.state, "claims", None)
    if cached is not None:
        return cached
    claims = await state.verifier.verify(token)
    request.state.claims = claims
    request.state.user_id = claims.sub
    return claims


async def get_claims(request: Request, state: State, credentials: Bearer) -> Claims:
    return await bearer_claims(request, state, credentials)


async def bearer_claims(
    request: Request, state: AppState, credentials: HTTPAuthorizationCredentials | None
) -> Claims:
    """The verified claims of the request's bearer token (401 when missing or invalid)."""
    token = credentials.credentials if credentials is not None else ""
    if not token and request.headers.get("authorization"):
        raise errors.Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return await verified_claims(request, state, token)


VerifiedClaims = Annotated[Claims, Depends(get_claims)]


async def get_current_user(uow: Uow, claims: VerifiedClaims) -> User:
    return await users_service.current_user(uow, claims=claims)


CurrentUser = Annotated[User, Depends(get_current_user)]


@asynccontextmanager
async def caller_uow(state: AppState, claims: Claims) -> AsyncIterator[tuple[UnitOfWork, User]]:
    """`Uow` and `CurrentUser` for a route that resolves them only when it needs them (GET
    /sessions/current, when its one-statement answer does not apply): the same unit of
    work, committed before the response as the function-scoped dependency commits."""
    async with open_uow(state.database) as uow:
        yield uow, await users_service.current_user(uow, claims=claims)


async def get_client_address(request: Request, state: State) -> str:
    """A keyed hash of the caller's address (the peer, or X-Forwarded-For from
    TRUSTED_PROXIES): members who joined from one address are counted together (docs/DOMAIN.md)
    without the raw IP ever being stored."""
    ip = client_ip(request.scope, state.settings.trusted_proxies)
    return hmac.new(state.tv_key, b"client-address:" + ip.encode(), hashlib.sha256).hexdigest()[:32]


ClientAddress = Annotated[str, Depends(get_client_address)]


def rate_limited(scope: Scope, *, by_ip: bool = False) -> Callable[..., Awaitable[None]]:
    """A dependency enforcing `scope`'s limits for the verified caller (by client IP when
    there is none, or always with `by_ip`), answering RateLimit-* headers."""

    async def dependency(request: Request, response: Response, state: State) -> None:
        limiter = state.limiter
        if limiter is None:
            return
        user_id = None if by_ip else await _caller_id(request, state)
        identity = (
            f"user:{user_id}"
            if user_id is not None
            else f"ip:{client_ip(request.scope, limiter.trusted_proxies)}"
        )
        for name, value in (await limiter.enforce(scope, identity)).items():
            response.headers[name] = value

    return dependency


async def _caller_id(request: Request, state: AppState) -> object | None:
    """The verified caller's id, or None (an invalid token is limited by IP and rejected
    later by the route, with its own 401)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or getattr(request.state, "bad_token", False):
        return None
    try:
        claims = await verified_claims(request, state, header[7:].strip())
    except errors.AppError:
        request.state.bad_token = True  # verified once per request, even when invalid
        return None
    return claims.sub
