"""TV links: signed, short-lived, read-only tokens for one party's TV screen.

The signing key is derived (HMAC-SHA256 with a fixed label) from the server's HS secret, so a
TV token never verifies as an access token nor an access token as a TV token, even though
both come from the same configured secret."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import structlog

from queueit.core import errors
from queueit.core.security import MAX_TOKEN_BYTES, TokenVerifier, persisted_secret
from queueit.core.settings import Settings

log = structlog.get_logger(__name__)

AUDIENCE = "queueit-tv"
SCOPE = "tv"
_KEY_LABEL = b"queueit/tv-link/v1"
_SECRET_FILE = "tv_link_secret"


class TvLinkExpired(errors.TokenExpired):
    detail = "This TV link has expired; ask the host for a new one."


class TvLinkInvalid(errors.Unauthorized):
    detail = "This TV link is not valid."


def signing_key(settings: Settings, verifier: TokenVerifier) -> bytes:
    """The TV-link key of this deployment (the lifespan computes it once per process) from
    the verifier's HS secret (local mode: the local secret; Supabase with a legacy HS256
    secret: that), else LOCAL_JWT_SECRET, else a secret generated once under DATA_DIR."""
    base = (
        verifier.hs_secret
        or settings.local_jwt_secret
        or persisted_secret(Path(settings.data_dir) / _SECRET_FILE)
    )
    return hmac.new(base.encode(), _KEY_LABEL, hashlib.sha256).digest()


def mint(key: bytes, *, party_id: uuid.UUID, ttl_seconds: int) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(party_id),
        "scope": SCOPE,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, key, algorithm="HS256")


def verify(key: bytes, token: str, *, party_id: uuid.UUID, leeway: int) -> None:
    """Accept only an unexpired TV token for this very party; raise a 401 error otherwise."""
    if not token:
        raise errors.TokenMissing("A TV link token is required (?token=...).")
    if len(token) > MAX_TOKEN_BYTES:
        raise TvLinkInvalid()
    try:
        if jwt.get_unverified_header(token).get("alg") != "HS256":
            raise TvLinkInvalid()
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            audience=AUDIENCE,
            leeway=leeway,
            options={"require": ["exp", "iat", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TvLinkExpired() from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise TvLinkInvalid() from exc
    if claims.get("scope") != SCOPE:
        raise TvLinkInvalid()
    if str(claims.get("sub", "")).lower() != str(party_id):
        raise TvLinkInvalid("This TV link is for another party.")
