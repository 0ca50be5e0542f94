"""Opening a unit of work: for a request, or for a system task (idle expiry)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from queueit.core.db import DomainEvent, UnitOfWork
from queueit.core.state import AppState


@asynccontextmanager
async def open_uow(state: AppState, *, system: bool = False) -> AsyncIterator[UnitOfWork]:
    """Commit on success, roll back on any error; publish events only after the commit.
    `system` marks work done by the server itself rather than on behalf of a user.

    On PostgreSQL (DATABASE_RLS) system work runs as queueit_system, and a request as
    queueit_user with the caller's claims from `uow.act_as(user_id)` on (users.service.
    current_user calls it right after verifying the token; a TV link's views call
    `act_as_viewer`). Until then it runs with no caller, so every policy denies: a route that
    forgets to name its caller sees nothing rather than everything (docs/RLS.md)."""

    async def publish(events: list[DomainEvent]) -> None:
        if state.backplane is not None:
            await state.backplane.publish_many(events)

    async with state.sessionmaker() as session:
        uow = UnitOfWork(
            session=session,
            publisher=publish,
            presence_ttl_seconds=state.settings.presence_ttl_seconds,
            rls=state.settings.rls_enabled,
        )
        if system:
            await uow.act_as_system()
        else:
            await uow.act_as_nobody()
        try:
            yield uow
            await uow.commit()
        except BaseException:
            await uow.rollback()
            raise
