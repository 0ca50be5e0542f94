"""Redis pub/sub backplane: one shared channel, one subscription per process.

Wire format (one Redis message per committed change, so the events of a change travel
together): `{"f": 1, "i": <instance id>, "ts": <iso>, "e": [[session_id, name, version, data]]}`.
Events are handed to this process's own listeners directly (and skipped when they come back
from Redis), so a Redis outage never stops delivery to sockets on the instance that made the
change. Remote instances that miss messages while disconnected resync their sockets after
reconnecting (see `add_gap_listener`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from queueit.core import metrics
from queueit.core.events import DomainEvent, EventName
from queueit.realtime.backplane import GapListener, Listener, deliver
from queueit.realtime.protocol import now_iso

log = structlog.get_logger(__name__)

WIRE_FORMAT = 1
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0
# After a failed publish, skip publishing for this long so a dead Redis costs requests nothing.
PUBLISH_COOLDOWN_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 1.0


def redis_client(url: str, *, timeout: float) -> Redis:
    """A client with redis-py's silent retries turned off: this backplane reconnects by itself
    and must see every disconnect (a silent re-subscribe would hide lost messages)."""
    client: Redis = Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=10,
    )
    return client


class RedisBackplane:
    def __init__(self, url: str, *, channel: str, timeout: float = 1.0) -> None:
        self.channel = channel
        self.instance_id = uuid.uuid4().hex
        self._client = redis_client(url, timeout=timeout)
        self._timeout = timeout
        self._listeners: list[Listener] = []
        self._gap_listeners: list[GapListener] = []
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._connected = False
        self._publish_lock = asyncio.Lock()
        self._skip_publish_until = 0.0
        self.reconnects = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe_forever(), name="redis-backplane")
        # Give the first subscription a moment so events right after start-up are not missed;
        # a Redis that is down must not stop the API from starting.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=self._timeout * 2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                # (a reconnect cut short raises ConnectionError): the client must close anyway.
                log.info("backplane_stopped_with_error", error=type(exc).__name__)
            self._task = None
        self._listeners.clear()
        self._gap_listeners.clear()
        await self._client.aclose()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_gap_listener(self, listener: GapListener) -> None:
        self._gap_listeners.append(listener)

    def health(self) -> str:
        if not self._connected or time.monotonic() < self._skip_publish_until:
            return "degraded"
        return "ok"

    async def publish_many(self, events: list[DomainEvent]) -> None:
        """Deliver locally, then publish to the other instances. Failures are logged, never
        raised: the transaction already committed."""
        if not events:
            return
        ts = now_iso()
        deliver(self._listeners, events, ts)
        if time.monotonic() < self._skip_publish_until:
            log.debug("backplane_publish_skipped", events=len(events))
            return
        payload = orjson.dumps(
            {
                "f": WIRE_FORMAT,
                "i": self.instance_id,
                "ts": ts,
                "e": [[str(e.party_id), e.name.value, e.version, e.data] for e in events],
            }
        )
        try:
            async with asyncio.timeout(self._timeout):
                # One publish at a time keeps this instance's messages in commit order.
                async with self._publish_lock:
                    await self._client.publish(self.channel, payload)
            metrics.BACKPLANE_PUBLISHED.inc()
        except (RedisError, OSError, TimeoutError) as exc:
            self._skip_publish_until = time.monotonic() + PUBLISH_COOLDOWN_SECONDS
            log.warning("backplane_publish_failed", error=type(exc).__name__, events=len(events))

    async def _subscribe_forever(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        first = True
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._on_subscribed(first)
                first, delay = False, RECONNECT_MIN_SECONDS
                await self._read(pubsub)
            except (RedisError, OSError, TimeoutError) as exc:
                if self._connected or first:
                    log.warning("backplane_disconnected", error=type(exc).__name__)
                first = False
                self._connected = False
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _on_subscribed(self, first: bool) -> None:
        self._connected = True
        self._subscribed.set()
        if first:
            log.info("backplane_subscribed", channel=self.channel)
            return
        # Messages published while we were away are gone: let the hubs repair their sockets.
        self.reconnects += 1
        log.info("backplane_reconnected", channel=self.channel, reconnects=self.reconnects)
        for listener in self._gap_listeners:
            try:
                listener()
            except Exception:
                log.exception("backplane_gap_listener_failed")

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=READ_TIMEOUT_SECONDS
            )
            if message is not None and message.get("type") == "message":
                self._on_message(message["data"])

    def _on_message(self, raw: Any) -> None:
        try:
            body = orjson.loads(raw)
            if body.get("i") == self.instance_id:
                return  # already delivered locally
            ts = str(body["ts"])
            events = [
                DomainEvent(uuid.UUID(sid), EventName(name), int(version), dict(data))
                for sid, name, version, data in body["e"]
            ]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            # ValueError: also an event name this version does not know (a newer instance).
            log.warning("backplane_message_malformed", size=len(raw) if raw else 0)
            return
        metrics.BACKPLANE_RECEIVED.inc()
        _observe_lag(ts)
        deliver(self._listeners, events, ts)


def _observe_lag(ts: str) -> None:
    """Publish-to-receipt time (the publisher's clock: the same on one machine, NTP-close
    across machines; negative skew is counted as 0)."""
    try:
        published = datetime.fromisoformat(ts)
    except ValueError:
        return
    lag = (datetime.now(UTC) - published).total_seconds()
    metrics.BACKPLANE_LAG_SECONDS.observe(max(0.0, lag))
