"""Who may hold a socket, and how many: the one place for the endpoint's connection rules.

- Before the handshake is accepted, per client address: at most
  REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS sockets of this process may be waiting to
  authenticate, and opening is rate limited (Scope.REALTIME_CONNECT_IP). Beyond either the
  handshake is answered `429` in the error envelope (`Denied`); no WebSocket is opened.
- Authentication: a valid token (4401 otherwise; 1013 while sign-in keys are not loaded),
  within the per-user connect limit (Scope.REALTIME_CONNECT, 1008 over it).
- Once open, per holder (a user: `user:<id>`): at most REALTIME_MAX_SOCKETS_PER_USER sockets
  in this process; a newer one closes the oldest with 4429.

The counts are per process (the hub holds sockets in memory; nothing tracks them in Redis);
the rate limits are shared through Redis like every other limit."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from queueit.core import errors, metrics
from queueit.core.ratelimit import RateLimiter, Scope
from queueit.core.security import Claims, TokenVerifier
from queueit.core.settings import Settings
from queueit.realtime.protocol import CloseCode
from queueit.realtime.source import Refused


class Denied(Exception):
    """Refuse the handshake itself with an HTTP status in the error envelope."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}


class Closable(Protocol):
    def close(self, code: int, reason: str, *, flush: bool = False) -> None: ...


class Gate:
    """The per-process connection counts (one per hub, kept by runtime.Realtime)."""

    def __init__(self, settings: Settings, limiter: RateLimiter | None) -> None:
        self.limiter = limiter
        self.max_unauthenticated = settings.realtime_max_unauthenticated_per_address
        self.max_per_user = settings.realtime_max_sockets_per_user
        self._unauthenticated: Counter[str] = Counter()
        self._held: dict[str, dict[Closable, None]] = {}  # insertion order: oldest first

    # -- before authentication ---------------------------------------------------------------

    async def arrive(self, address: str) -> None:
        """Count a new socket from `address` as unauthenticated (`depart` when it is done), or
        raise Denied. The cap is checked first: a refused socket costs no rate-limit hit."""
        if self.max_unauthenticated and self._unauthenticated[address] >= self.max_unauthenticated:
            metrics.CONNECTIONS_REFUSED.labels(reason="ws_unauthenticated").inc()
            raise Denied(
                429,
                "too_many_connections",
                "Too many connections from your address are waiting to sign in.",
                {"Retry-After": "1"},
            )
        self._unauthenticated[address] += 1  # before the await: concurrent arrivals see it
        if self.limiter is not None:
            try:
                await self.limiter.enforce(Scope.REALTIME_CONNECT_IP, f"ip:{address}")
            except errors.RateLimited as exc:
                self.depart(address)
                raise Denied(exc.status_code, exc.code, exc.detail, exc.headers) from exc
            except BaseException:
                self.depart(address)
                raise

    def depart(self, address: str) -> None:
        """The socket from `address` authenticated, was refused, or left."""
        self._unauthenticated[address] -= 1
        if self._unauthenticated[address] <= 0:
            del self._unauthenticated[address]

    def unauthenticated(self, address: str) -> int:
        return self._unauthenticated[address]

    # -- once open ---------------------------------------------------------------------------

    def hold(self, key: str, conn: Closable, *, cap: int | None = None) -> None:
        """`conn` is open for `key` (a user: `user:<id>`). Over the cap (default
        REALTIME_MAX_SOCKETS_PER_USER; 0 = none), the oldest sockets of `key` close with 4429."""
        held = self._held.setdefault(key, {})
        held[conn] = None
        limit = self.max_per_user if cap is None else cap
        while limit and len(held) > limit:
            oldest = next(iter(held))
            del held[oldest]
            metrics.CONNECTIONS_REFUSED.labels(reason="ws_user_cap").inc()
            oldest.close(CloseCode.TOO_MANY_SOCKETS, "too many open sockets for this account")

    def release(self, key: str, conn: Closable) -> None:
        held = self._held.get(key)
        if held is not None:
            held.pop(conn, None)
            if not held:
                del self._held[key]

    def held(self, key: str) -> int:
        return len(self._held.get(key, ()))


def user_key(claims: Claims) -> str:
    return f"user:{claims.sub}"


async def verify_token(verifier: TokenVerifier, token: str) -> Claims:
    try:
        return await verifier.verify(token)
    except errors.ServiceUnavailable as exc:  # signing keys not loaded yet
        raise Refused(CloseCode.TRY_AGAIN_LATER, "sign-in unavailable") from exc
    except errors.TokenExpired as exc:
        raise Refused(CloseCode.AUTH_FAILED, "token expired") from exc
    except errors.AppError as exc:
        raise Refused(CloseCode.AUTH_FAILED, "token invalid") from exc


async def count_connect(limiter: RateLimiter | None, claims: Claims) -> None:
    """One connect of this user against REALTIME_CONNECT (1008 when over it)."""
    if limiter is None:
        return
    try:
        await limiter.enforce(Scope.REALTIME_CONNECT, f"user:{claims.sub}")
    except errors.RateLimited as exc:
        raise Refused(CloseCode.POLICY, "too many connection attempts") from exc
