"""The catalog's result cache (in memory, or Redis when configured) and single-flight.

Values are bytes (JSON) so both backends behave the same. Redis trouble degrades to a cache
miss, never to a failed search.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import structlog

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

T = TypeVar("T")
REDIS_TIMEOUT_SECONDS = 1.0
KEY_PREFIX = "queueit:catalog:cache:"


class ResultCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl: float) -> None: ...

    async def clear(self) -> None: ...


class MemoryCache:
    """A TTL cache for one process, bounded by entry count and total bytes (oldest entries
    are evicted first)."""

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 32 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock

    def _drop(self, key: str) -> None:
        _, value = self._items.pop(key)
        self._bytes -= len(value)

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires_at, value = item
        if expires_at <= self._clock():
            self._drop(key)
            return None
        return value

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        if ttl <= 0 or len(value) > self._max_bytes:
            return
        if key in self._items:
            self._drop(key)
        self._items[key] = (self._clock() + ttl, value)
        self._bytes += len(value)
        while len(self._items) > self._max_entries or self._bytes > self._max_bytes:
            self._drop(next(iter(self._items)))

    async def clear(self) -> None:
        self._items.clear()
        self._bytes = 0


class RedisCache:
    """Shared by every instance; keys carry a prefix and expire on their own."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, key: str) -> bytes | None:
        try:
            raw = await asyncio.wait_for(self._redis.get(KEY_PREFIX + key), REDIS_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("catalog_cache_redis_error", operation="get", error=repr(exc))
            return None
        if raw is None:
            return None
        return raw if isinstance(raw, bytes) else str(raw).encode()

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        if ttl <= 0:
            return
        try:
            await asyncio.wait_for(
                self._redis.set(KEY_PREFIX + key, value, px=max(1, int(ttl * 1000))),
                REDIS_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            log.warning("catalog_cache_redis_error", operation="set", error=repr(exc))

    async def clear(self) -> None:
        return None  # shared with other instances: entries simply expire


class SingleFlight(Generic[T]):
    """Concurrent calls with the same key share one execution of `fn`.

    The work runs in its own task, so a caller that goes away (client disconnect) does not
    cancel it for the others.
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(fn())
            self._running[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Task[T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved, so an abandoned failure is not reported as lost

    def in_flight(self) -> int:
        return len(self._running)

    async def aclose(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
