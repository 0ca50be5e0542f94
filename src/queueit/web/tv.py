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
from queueit.realtime.protocol import CloseCode
from queueit.realtime.source import Refused

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


def verify(key: bytes, token: str, *, party_id: uuid.UUID, leeway: int) -> int:
    """Accept only an unexpired TV token for this very party (returns its expiry, epoch
    seconds); raise a 401 error otherwise."""
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
    return int(claims["exp"])


def is_tv_token(token: str) -> bool:
    """Whether `token` claims to be a TV link (unverified: it only picks the check to run)."""
    if not token or len(token) > MAX_TOKEN_BYTES:
        return False
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return False
    return isinstance(claims, dict) and claims.get("aud") == AUDIENCE


class TvViewers:
    """TV links as the realtime transport's viewer tokens (realtime/source.py ViewerTokens):
    a TV link's token opens the party's socket read only."""

    def __init__(self, key: bytes, *, leeway: int) -> None:
        self.key = key
        self.leeway = leeway

    def verify(self, token: str, *, party_id: uuid.UUID) -> int | None:
        if not is_tv_token(token):
            return None
        try:
            return verify(self.key, token, party_id=party_id, leeway=self.leeway)
        except TvLinkExpired as exc:
            raise Refused(CloseCode.AUTH_FAILED, "TV link expired") from exc
        except errors.Unauthorized as exc:
            raise Refused(CloseCode.AUTH_FAILED, "TV link invalid") from exc
