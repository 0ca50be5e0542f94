"""Access-token verification: Supabase (JWKS ES256/RS256, legacy HS256) and local HS256 tokens,
one code path for all modes, and local token minting."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import structlog

from queueit.core import errors
from queueit.core.files import private_dir
from queueit.core.settings import Settings

log = structlog.get_logger(__name__)

MAX_TOKEN_BYTES = 8192
ASYMMETRIC_ALGORITHMS = ("ES256", "RS256")
AUDIENCE = "authenticated"
LOCAL_ISSUER = "queueit-local"
VERIFIED_CACHE_ENTRIES = 10_000


class AuthUnavailable(errors.ServiceUnavailable):
    code = "auth_unavailable"
    detail = "Sign-in keys are not available yet; try again in a few seconds."


@dataclass(frozen=True, slots=True)
class Claims:
    sub: uuid.UUID
    is_anonymous: bool
    issued_at: int
    expires_at: int
    # Issued by this server (local mode), not by Supabase: such a token never upgrades a guest.
    local: bool = False


class JwksCache:
    """Supabase's signing keys, fetched asynchronously and cached for at most `ttl` seconds.
    An unknown `kid` triggers at most one refetch per `refetch_interval` seconds, so a flood of
    tokens with random `kid`s cannot become a flood of fetches."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        ttl: float,
        refetch_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.client = client
        self.ttl = ttl
        self.refetch_interval = refetch_interval
        self.clock = clock  # seconds, monotonic (tests drive the cache's windows with it)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._last_attempt = float("-inf")
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    @property
    def has_keys(self) -> bool:
        return bool(self._keys)

    async def get(self, kid: str) -> jwt.PyJWK:
        now = self.clock()
        since_attempt = now - self._last_attempt
        expired = now - self._fetched_at >= self.ttl
        refresh_due = expired and since_attempt >= min(self.refetch_interval, self.ttl)
        unknown_due = kid not in self._keys and since_attempt >= self.refetch_interval
        if refresh_due or unknown_due:
            await self.refresh()
        elif kid not in self._keys and self._lock.locked():
            # A fetch (e.g. the startup warm-up) is in flight: its result decides, not the
            # keys we had before it.
            async with self._lock:
                pass
        key = self._keys.get(kid)
        if key is None:
            if not self._keys:
                raise AuthUnavailable()
            raise errors.Unauthorized("The access token was signed with an unknown key.")
        return key

    async def refresh(self) -> None:
        """Fetch the key set (single-flight: concurrent callers share one fetch)."""
        attempt_before = self._last_attempt
        async with self._lock:
            if self._last_attempt != attempt_before:
                return  # another caller fetched while we waited
            self._last_attempt = self.clock()
            self.fetch_count += 1
            try:
                response = await self.client.get(self.url)
                response.raise_for_status()
                keys = _usable_keys(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                # Keep the keys we had: an outage must not sign everyone out.
                log.warning("jwks_fetch_failed", error=type(exc).__name__)
                return
            if not keys:
                # Supabase always publishes a signing key; an empty or unreadable set is a
                # broken response, not a revocation of every key.
                log.warning("jwks_fetch_failed", error="no_usable_keys")
                return
            self._keys = keys
            self._fetched_at = self.clock()
            log.info("jwks_fetched", key_count=len(keys))

    async def warm_up(self, stop: asyncio.Event) -> None:
        """Fetch keys in the background at startup, retrying with backoff until it works."""
        delay = 1.0
        while not stop.is_set() and not self._keys:
            await self.refresh()
            if self._keys:
                return
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, self.refetch_interval)


def _usable_keys(document: object) -> dict[str, jwt.PyJWK]:
    """The asymmetric signing keys of a JWKS document, by kid; anything else is skipped."""
    items = document.get("keys") if isinstance(document, dict) else None
    keys: dict[str, jwt.PyJWK] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            jwk = jwt.PyJWK.from_dict(item)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            log.warning("jwks_key_skipped", kid=str(item.get("kid")))
            continue
        if jwk.key_id and jwk.algorithm_name in ASYMMETRIC_ALGORITHMS:
            keys[jwk.key_id] = jwk
    return keys


class VerifiedTokens:
    """Tokens this process verified, with their claims, until each token's `exp` (issue 17:
    a client sends the same token on every request for its lifetime). Keyed by the token's
    SHA-256, never the token itself; bounded (least recently used out); only tokens that
    passed every check get in, and an entry at or past its `exp` is dropped, so the token is
    verified again (and refused as expired)."""

    def __init__(
        self,
        *,
        max_entries: int = VERIFIED_CACHE_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock  # wall-clock seconds, as `exp` is
        self._claims: OrderedDict[bytes, Claims] = OrderedDict()

    def __len__(self) -> int:
        return len(self._claims)

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, key: bytes) -> Claims | None:
        claims = self._claims.get(key)
        if claims is None:
            return None
        if self.clock() >= claims.expires_at:
            del self._claims[key]
            return None
        self._claims.move_to_end(key)
        return claims

    def put(self, key: bytes, claims: Claims) -> None:
        if self.max_entries <= 0 or self.clock() >= claims.expires_at:
            return  # accepted within the leeway: verified every time, never cached
        self._claims[key] = claims
        self._claims.move_to_end(key)
        while len(self._claims) > self.max_entries:
            self._claims.popitem(last=False)


class TokenVerifier:
    """Verifies access tokens. HS256 and asymmetric algorithms go through separate decode calls,
    each with a single-algorithm list, so a token can never pick the algorithm family."""

    def __init__(
        self,
        settings: Settings,
        *,
        hs_secret: str,
        jwks: JwksCache | None,
        verified: VerifiedTokens | None = None,
    ) -> None:
        self.settings = settings
        self.hs_secret = hs_secret
        self.jwks = jwks
        self.verified = verified if verified is not None else VerifiedTokens()
        self.local = settings.auth_mode == "local"
        # Local mode pins our own issuer; Supabase mode its project's (the legacy HS256 secret
        # alone names no project, so there the issuer is not known).
        self.issuer: str | None = LOCAL_ISSUER if self.local else None
        if settings.supabase_url:
            self.issuer = f"{settings.supabase_url.rstrip('/')}/auth/v1"

    async def verify(self, token: str) -> Claims:
        if not token:
            raise errors.TokenMissing()
        if len(token) > MAX_TOKEN_BYTES:
            raise errors.Unauthorized("The access token is too large.")
        key = self.verified.key(token)
        claims = self.verified.get(key)
        if claims is None:
            claims = await self._verify(token)
            self.verified.put(key, claims)
        return claims

    async def _verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise errors.Unauthorized("The access token is malformed.") from exc
        alg = header.get("alg")
        if alg == "HS256":
            if not self.hs_secret:
                raise errors.Unauthorized("HS256 tokens are not accepted by this server.")
            payload = self._decode(token, self.hs_secret, "HS256")
        elif alg in ASYMMETRIC_ALGORITHMS and self.jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise errors.Unauthorized("The access token has no key id.")
            jwk = await self.jwks.get(kid)
            if jwk.algorithm_name != alg:
                raise errors.Unauthorized("The token's algorithm does not match its key.")
            payload = self._decode(token, jwk.key, alg)
        else:
            raise errors.Unauthorized("The token's signing algorithm is not accepted.")
        return self._claims(payload, local=self.local)

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=AUDIENCE,
                issuer=self.issuer,
                leeway=self.settings.jwt_leeway_seconds,
                options={
                    "require": ["exp", "iat", "sub", "aud", *(["iss"] if self.issuer else [])]
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise errors.TokenExpired() from exc
        except jwt.ImmatureSignatureError as exc:
            raise errors.Unauthorized("The access token is not valid yet.") from exc
        except jwt.InvalidAudienceError as exc:
            raise errors.Unauthorized("The access token has the wrong audience.") from exc
        except jwt.InvalidIssuerError as exc:
            raise errors.Unauthorized("The access token has the wrong issuer.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise errors.Unauthorized(f"The access token lacks the '{exc.claim}' claim.") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise errors.Unauthorized("The access token's signature is not valid.") from exc
        if not isinstance(payload.get("aud"), str):
            # PyJWT accepts a list that contains ours; a token for several audiences is a
            # token meant for someone else too.
            raise errors.Unauthorized("The access token's audience must be a single string.")
        for name in ("exp", "iat", "nbf"):
            # PyJWT accepts numeric strings ("exp": "1999999999"); RFC 7519 wants numbers.
            value = payload.get(name, 0)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise errors.Unauthorized(f"The access token's '{name}' claim is not a number.")
        if payload["iat"] > time.time() + self.settings.jwt_leeway_seconds:
            raise errors.Unauthorized("The access token is not valid yet.")
        return payload

    @staticmethod
    def _claims(payload: dict[str, Any], *, local: bool) -> Claims:
        if payload.get("role") != "authenticated":
            raise errors.Unauthorized("The access token's role is not 'authenticated'.")
        try:
            sub = uuid.UUID(str(payload["sub"]))
        except ValueError as exc:
            raise errors.Unauthorized("The access token's subject is not a user id.") from exc
        is_anonymous = payload.get("is_anonymous", True)
        return Claims(
            sub=sub,
            is_anonymous=is_anonymous is not False,
            issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]),
            local=local,
        )


def local_secret(settings: Settings) -> str:
    """LOCAL_JWT_SECRET, or a secret generated once and kept under DATA_DIR (mode 0600)."""
    if settings.local_jwt_secret:
        return settings.local_jwt_secret
    return persisted_secret(Path(settings.data_dir) / "local_jwt_secret")


def persisted_secret(path: Path) -> str:
    """A random secret kept in `path`, generated on first use. Written privately under a
    temporary name, then linked into place: the link fails if another worker got there first,
    so every worker ends up with the same secret and none ever reads a half-written file."""
    if not path.exists():
        private_dir(path.parent)
        staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(staging, path)
            log.info("secret_generated", path=str(path))
        except FileExistsError:
            pass
        finally:
            staging.unlink()
    return path.read_text().strip()


def mint_local_token(
    secret: str,
    *,
    sub: uuid.UUID,
    is_anonymous: bool,
    ttl_seconds: int,
    extra: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(sub),
        "aud": AUDIENCE,
        "role": "authenticated",
        "iss": LOCAL_ISSUER,
        "iat": now,
        "exp": now + ttl_seconds,
        "is_anonymous": is_anonymous,
        **(extra or {}),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def build_verifier(settings: Settings, client: httpx.AsyncClient) -> TokenVerifier:
    if settings.auth_mode == "local":
        return TokenVerifier(settings, hs_secret=local_secret(settings), jwks=None)
    jwks = None
    if settings.supabase_url:
        jwks = JwksCache(
            f"{settings.supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json",
            client,
            ttl=settings.jwks_cache_seconds,
            refetch_interval=settings.jwks_refetch_interval_seconds,
        )
    return TokenVerifier(settings, hs_secret=settings.supabase_jwt_secret, jwks=jwks)
