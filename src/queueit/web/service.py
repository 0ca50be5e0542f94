"""Web rules: who may get a party's TV link and its join QR code, the TV's read-only view,
and the join link a QR code encodes."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import segno

from queueit.core.db import UnitOfWork
from queueit.sessions import repository as sessions_repository
from queueit.sessions import service as sessions_service
from queueit.sessions.errors import NoActiveSession, NotHost, NotMember
from queueit.sessions.models import Session
from queueit.sessions.schemas import CurrentSessionOut
from queueit.users.models import User
from queueit.web import tv
from queueit.web.schemas import TvLinkOut

# The TV is not a user: it sees the party as someone with no votes and no skip request.
TV_VIEWER = uuid.UUID(int=0)
TV_QUEUE_LIMIT = 20


def public_base(configured: str, request_base: str) -> str:
    """PUBLIC_BASE_URL when set, else the origin (and root path) the request came to."""
    return (configured or request_base).rstrip("/")


def join_url(base: str, join_code: str) -> str:
    return f"{base}/join?code={quote(join_code, safe='')}"


def qr_svg(text: str) -> bytes:
    """A QR code of `text` as a self-contained, scalable SVG (dark modules on white)."""
    qr = segno.make(text, error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(
        buffer,
        kind="svg",
        scale=10,
        border=2,
        dark="#111111",
        light="#ffffff",
        xmldecl=False,
        omitsize=True,
        title="Scan to join the party",
    )
    return buffer.getvalue()


async def _active(uow: UnitOfWork, session_id: uuid.UUID) -> Session:
    session = await sessions_repository.get(uow.session, session_id)
    if session is None or session.ended_at is not None:
        raise NoActiveSession("No such active party.")
    return session


async def tv_link(
    uow: UnitOfWork,
    *,
    actor: User,
    session_id: uuid.UUID,
    key: bytes,
    ttl_seconds: int,
    base: str,
) -> TvLinkOut:
    """The host's TV link for their active party (403 `not_host` for anyone else)."""
    session = await _active(uow, session_id)
    if session.host_id != actor.id:
        raise NotHost()
    token = tv.mint(key, session_id=session.id, ttl_seconds=ttl_seconds)
    url = f"/tv/{session.id}?token={token}"
    return TvLinkOut(
        url=url,
        absolute_url=base + url,
        expires_in=ttl_seconds,
        expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_seconds),
    )


async def tv_state(uow: UnitOfWork, *, session_id: uuid.UUID) -> CurrentSessionOut:
    """The party as the TV shows it (the caller has checked the TV token)."""
    return await sessions_service.snapshot(
        uow, session_id=session_id, user_id=TV_VIEWER, queue_limit=TV_QUEUE_LIMIT
    )


async def join_code_for_member(uow: UnitOfWork, *, actor: User, session_id: uuid.UUID) -> str:
    """The join code of an active party the caller is a member (or the host) of."""
    session = await _active(uow, session_id)
    if actor.current_session_id != session.id and actor.id != session.host_id:
        raise NotMember()
    return session.join_code


async def join_code_for_tv(uow: UnitOfWork, *, session_id: uuid.UUID) -> str:
    """The join code of an active party (the caller has checked the TV token)."""
    return (await _active(uow, session_id)).join_code
