"""Request dependencies shared by every domain (`Annotated` aliases keep routes short)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from queueit.core.db import DomainEvent, UnitOfWork
from queueit.core.security import Claims
from queueit.core.settings import Settings
from queueit.core.state import AppState

_bearer = HTTPBearer(auto_error=False, description="A Supabase or local access token.")


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ctx
    return state


State = Annotated[AppState, Depends(get_state)]


def get_settings(state: State) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_uow(state: State) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work: the only place that commits. Events reach the backplane
    after the commit succeeded; any error rolls everything back."""

    async def publish(events: list[DomainEvent]) -> None:
        if state.backplane is not None:
            await state.backplane.publish_many(events)

    async with state.sessionmaker() as session:
        uow = UnitOfWork(
            session=session,
            publisher=publish,
            presence_ttl_seconds=state.settings.presence_ttl_seconds,
        )
        try:
            yield uow
            await uow.commit()
        except BaseException:
            await uow.rollback()
            raise


Uow = Annotated[UnitOfWork, Depends(get_uow, scope="function")]


async def get_claims(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    token = credentials.credentials if credentials is not None else ""
    if not token and request.headers.get("authorization"):
        from queueit.core.errors import Unauthorized

        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    claims = await state.verifier.verify(token)
    request.state.user_id = claims.sub
    return claims


VerifiedClaims = Annotated[Claims, Depends(get_claims)]
