"""Realtime rules: who may open a socket on a session, what they see first, and presence."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from queueit.core import errors
from queueit.core.db import utcnow
from queueit.core.ratelimit import Scope
from queueit.core.security import Claims
from queueit.core.state import AppState
from queueit.core.uow import open_uow
from queueit.realtime import repository
from queueit.realtime.protocol import SNAPSHOT, CloseCode, Outgoing, encode, now_iso
from queueit.realtime.repository import SessionState
from queueit.sessions import service as sessions_service
from queueit.sessions.errors import NoActiveSession
from queueit.users import service as users_service


class Refused(Exception):
    """The socket must be closed with `code` (a reason the client can show or log)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def verify_token(state: AppState, token: str) -> Claims:
    try:
        return await state.verifier.verify(token)
    except errors.ServiceUnavailable as exc:  # signing keys not loaded yet
        raise Refused(CloseCode.TRY_AGAIN_LATER, "sign-in unavailable") from exc
    except errors.TokenExpired as exc:
        raise Refused(CloseCode.AUTH_FAILED, "token expired") from exc
    except errors.AppError as exc:
        raise Refused(CloseCode.AUTH_FAILED, "token invalid") from exc


async def open_view(state: AppState, *, claims: Claims, session_id: uuid.UUID) -> Outgoing:
    """The caller's `session.snapshot` frame, after checking that the session is active
    (else 4404) and that the caller is a member of it (else 4403). Provisions the user.
    Connects are rate limited per user (1008 when over the `realtime_connect` limit)."""
    if state.limiter is not None:
        verdict = await state.limiter.hit(Scope.REALTIME_CONNECT, f"user:{claims.sub}")
        if not verdict.allowed:
            raise Refused(CloseCode.POLICY, "too many connection attempts")
    async with open_uow(state) as uow:
        try:
            user = await users_service.current_user(uow, claims=claims)
        except errors.Unauthorized as exc:  # e.g. the account was deleted
            raise Refused(CloseCode.AUTH_FAILED, exc.code) from exc
        found = (await repository.session_states(uow.session, [session_id])).get(session_id)
        if found is None or found.ended:
            raise Refused(CloseCode.NOT_FOUND, "session not found or ended")
        if user.current_session_id != session_id:
            raise Refused(CloseCode.NOT_MEMBER, "not a member of this session")
        try:
            view = await sessions_service.snapshot(uow, session_id=session_id, user_id=user.id)
        except NoActiveSession as exc:  # ended between the two reads
            raise Refused(CloseCode.NOT_FOUND, "session not found or ended") from exc
    version = view.session.version
    frame = encode(SNAPSHOT, session_id, version, now_iso(), view.model_dump(mode="json"))
    return Outgoing(version=version, frame=frame, control=True, snapshot=True)


async def session_states(
    state: AppState, session_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, SessionState]:
    async with open_uow(state, system=True) as uow:
        return await repository.session_states(uow.session, session_ids)


async def refresh_presence(
    state: AppState, *, user_ids: Collection[uuid.UUID], session_ids: Collection[uuid.UUID]
) -> None:
    """Connected users are present; their sessions are active."""
    if not user_ids and not session_ids:
        return
    async with open_uow(state, system=True) as uow:
        await repository.touch_presence(
            uow.session, user_ids=user_ids, session_ids=session_ids, at=utcnow()
        )
