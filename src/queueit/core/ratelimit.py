"""Rate limits with the `limits` library's async strategies: per verified user, else per client
IP; in memory by default, in Redis when configured so N instances enforce 1x the limit.
The HTTP dependency that applies them to routes is api/deps.py's `rate_limited`."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from queueit.core import errors, metrics
from queueit.core.settings import Settings

log = structlog.get_logger(__name__)


class Scope(StrEnum):
    """A named limit (a misspelt scope is a type error, not a 500 at run time)."""

    DEFAULT = "default"
    SEARCH = "search"
    SESSIONS_CREATE = "sessions_create"
    SESSIONS_CODES = "sessions_codes"
    SESSIONS_JOIN = "sessions_join"
    SESSIONS_JOIN_IP = "sessions_join_ip"
    SESSIONS_JOIN_PARTY = "sessions_join_party"
    SESSIONS_EXPORT = "sessions_export"
    SONGS_ADD = "songs_add"
    SONGS_VOTE = "songs_vote"
    AUTH_ANONYMOUS = "auth_anonymous"
    REALTIME_CONNECT = "realtime_connect"
    REALTIME_CONNECT_IP = "realtime_connect_ip"


# The per-route limits of API.md §3, and a default for every other /api/v1 route. RATE_LIMITS
# overrides any of them (`scope=spec,...`, ENV.example).
LIMITS: dict[Scope, str] = {
    Scope.DEFAULT: "120/minute;20/second",
    Scope.SEARCH: "20/minute;5/second",
    Scope.SESSIONS_CREATE: "10/minute;3/second",
    # Code reservations per account: each create ends the host's previous party, so a squatter
    # cycling through popular codes is slowed to this (docs/SECURITY.md).
    Scope.SESSIONS_CODES: "10/hour;30/day",
    Scope.SESSIONS_JOIN: "20/minute;5/second",
    Scope.SESSIONS_JOIN_IP: "60/minute;10/second",  # join codes are guessable secrets
    # New members of one party, whoever they are: a script's burst of accounts is slowed.
    Scope.SESSIONS_JOIN_PARTY: "120/minute;20/second",
    # Each export makes a playlist in the host's own account and spends the app's Spotify quota.
    Scope.SESSIONS_EXPORT: "5/minute;30/day",
    Scope.SONGS_ADD: "30/minute;5/second",
    Scope.SONGS_VOTE: "60/minute;5/second",
    Scope.AUTH_ANONYMOUS: "10/minute;2/second",
    Scope.REALTIME_CONNECT: "30/minute;5/second",
    # Socket openings per address before any token is seen (realtime/admission.py); loose
    # enough for a household or venue sharing one public address reconnecting after a restart.
    Scope.REALTIME_CONNECT_IP: "120/minute;20/second",
}


def effective_limits(overrides: Mapping[str, str]) -> dict[Scope, list[RateLimitItem]]:
    """LIMITS with the operator's overrides, parsed. Raises ValueError naming an unknown scope
    or a spec `limits` cannot read (startup fails with that message)."""
    specs: dict[Scope, str] = dict(LIMITS)
    for name, spec in overrides.items():
        try:
            scope = Scope(name)
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"RATE_LIMITS: unknown scope {name!r} (known: {known})") from None
        specs[scope] = spec
    parsed: dict[Scope, list[RateLimitItem]] = {}
    for scope, spec in specs.items():
        try:
            parsed[scope] = list(parse_many(spec))
        except ValueError as exc:
            raise ValueError(f"RATE_LIMITS: {scope.value}={spec!r} is not a limit: {exc}") from None
    return parsed


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        if settings.redis_url:
            uri = (
                "async+" + settings.redis_url if "://" in settings.redis_url else settings.redis_url
            )
            # Short timeouts: a Redis outage costs a request half a second, then fails open.
            self.storage: Any = RedisStorage(
                uri,
                implementation="redispy",
                key_prefix="queueit-rl",
                wrap_exceptions=True,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.trusted_proxies = settings.trusted_proxies
        self._parsed = effective_limits(settings.rate_limits)

    async def aclose(self) -> None:
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    async def enforce(self, scope: Scope, identity: str) -> dict[str, str]:
        """Count one request of `identity` against `scope`: the RateLimit-* headers to send,
        or RateLimited (429, with Retry-After) when over the limit."""
        verdict = await self.hit(scope, identity)
        headers = rate_limit_headers(verdict)
        if not verdict.allowed:
            metrics.RATE_LIMITED.labels(scope=scope).inc()
            retry = headers["RateLimit-Reset"]
            raise errors.RateLimited(
                f"Too many requests; try again in {retry} s.",
                headers={**headers, "Retry-After": retry},
            )
        return headers

    async def hit(self, scope: Scope, identity: str) -> Verdict:
        """Count one request; the tightest of the scope's limits decides. Fails open when the
        storage (Redis) is unreachable: an outage must not take the API down."""
        verdicts = []
        for item in self._parsed[scope]:
            verdicts.append(await self._hit_one(item, scope, identity))
        refused = [v for v in verdicts if not v.allowed]
        if refused:
            return max(refused, key=lambda v: v.reset_after)
        return min(verdicts, key=lambda v: v.remaining)

    async def _hit_one(self, item: RateLimitItem, scope: Scope, identity: str) -> Verdict:
        try:
            allowed = await self.strategy.hit(item, scope, identity)
            stats = await self.strategy.get_window_stats(item, scope, identity)
        except Exception as exc:
            log.warning("rate_limit_storage_unavailable", error=type(exc).__name__)
            return Verdict(True, item.amount, item.amount, 0.0)
        return Verdict(
            allowed, item.amount, max(0, stats.remaining), max(0.0, stats.reset_time - time.time())
        )


def rate_limit_headers(verdict: Verdict) -> dict[str, str]:
    reset = max(1, math.ceil(verdict.reset_after))
    return {
        "RateLimit-Limit": str(verdict.limit),
        "RateLimit-Remaining": str(verdict.remaining),
        "RateLimit-Reset": str(reset),
    }
