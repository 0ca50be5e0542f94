"""Request dependencies shared by every domain (`Annotated` aliases keep routes short)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from queueit.core.db import UnitOfWork
from queueit.core.security import Claims
from queueit.core.settings import Settings
from queueit.core.state import AppState
from queueit.core.uow import open_uow

_bearer = HTTPBearer(auto_error=False, description="A Supabase or local access token.")


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
    async with open_uow(state) as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(get_uow, scope="function")]


async def get_claims(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    cached: Claims | None = getattr(request.state, "claims", None)
    if cached is not None:  # already verified this request (rate limiting keys on it)
        return cached
    token = credentials.credentials if credentials is not None else ""
    if not token and request.headers.get("authorization"):
        from queueit.core.errors import Unauthorized

        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    claims = await state.verifier.verify(token)
    request.state.user_id = claims.sub
    return claims


VerifiedClaims = Annotated[Claims, Depends(get_claims)]
