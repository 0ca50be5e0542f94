"""The rate-limit circuit: a provider's 429 stops every call to it until `Retry-After` passes.

The open-until time is kept in this process and, when Redis is configured, in Redis too, so
one instance's 429 silences every instance. A request never sleeps waiting for the circuit:
it fails at once with the time left, which becomes our own `Retry-After`.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

DEFAULT_RETRY_AFTER_SECONDS = 5.0
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
REDIS_TIMEOUT_SECONDS = 1.0
KEY_PREFIX = "queueit:catalog:circuit:"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    value = value.strip()
    seconds: float
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER_SECONDS
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 1.0), MAX_RETRY_AFTER_SECONDS)


class Circuit:
    """One provider's circuit. `remaining()` is 0 when closed, else seconds until it closes."""

    def __init__(
        self,
        provider: str,
        *,
        redis: Redis | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self._redis = redis
        self._clock = clock
        self._open_until = 0.0
        self._key = KEY_PREFIX + provider

    def is_open_locally(self) -> bool:
        return self._open_until > self._clock()

    async def remaining(self) -> float:
        now = self._clock()
        if self._open_until > now:
            return self._open_until - now
        if self._redis is None:
            return 0.0
        try:
            raw = await asyncio.wait_for(self._redis.get(self._key), REDIS_TIMEOUT_SECONDS)
        except Exception as exc:  # Redis down: this process's view still protects the provider
            log.warning("catalog_circuit_redis_error", provider=self.provider, error=repr(exc))
            return 0.0
        if raw is None:
            return 0.0
        try:
            until = float(raw)
        except (TypeError, ValueError):
            return 0.0
        if until > now:
            self._open_until = max(self._open_until, until)
            return until - now
        return 0.0

    async def trip(self, seconds: float) -> None:
        """Open the circuit for `seconds` (here and, with Redis, on every instance)."""
        until = self._clock() + seconds
        self._open_until = max(self._open_until, until)
        log.warning("catalog_circuit_opened", provider=self.provider, seconds=round(seconds, 1))
        if self._redis is None:
            return
        try:
            await asyncio.wait_for(
                self._redis.set(self._key, repr(self._open_until), px=max(1, int(seconds * 1000))),
                REDIS_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            log.warning("catalog_circuit_redis_error", provider=self.provider, error=repr(exc))
