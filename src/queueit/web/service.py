"""Web rules: who may get a party's TV link and its join QR code, and the join link a QR
code encodes. (The TV's read-only view is flows/views.py's `tv_view`.)"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import segno

from queueit.core.uow import UnitOfWork
from queueit.party import guards
from queueit.party.roles import Action
from queueit.users.models import User
from queueit.web import tv
from queueit.web.schemas import TvLinkOut


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


async def tv_link(
    uow: UnitOfWork,
    *,
    actor: User,
    party_id: uuid.UUID,
    key: bytes,
    ttl_seconds: int,
    base: str,
) -> TvLinkOut:
    """The host's TV link for their active party (403 `not_host` for anyone else)."""
    party = await guards.hosted_active_party(
        uow, actor=actor, party_id=party_id, action=Action.TV_LINK
    )
    token = tv.mint(key, party_id=party.id, ttl_seconds=ttl_seconds)
    url = f"/tv/{party.id}?token={token}"
    return TvLinkOut(
        url=url,
        absolute_url=base + url,
        expires_in=ttl_seconds,
        expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_seconds),
    )


async def join_code_for_member(uow: UnitOfWork, *, actor: User, party_id: uuid.UUID) -> str:
    """The join code of an active party the caller is a member (or the host) of."""
    party = await guards.member_or_host_party(uow, actor=actor, party_id=party_id)
    return party.join_code


async def join_code_for_tv(uow: UnitOfWork, *, party_id: uuid.UUID) -> str:
    """The join code of an active party (the caller has checked the TV token)."""
    return (await guards.active_party(uow, party_id)).join_code
