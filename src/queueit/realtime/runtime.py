"""The realtime machinery of one process, started and stopped with the app: the backplane
(memory, or Redis with REDIS_URL), the hub, the version tracker (realtime/versions.py) and
the signal hook that closes sockets with 1001 before uvicorn's own shutdown."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from queueit.core.ratelimit import RateLimiter
from queueit.core.security import TokenVerifier
from queueit.core.settings import Settings
from queueit.core.uow import Database
from queueit.realtime import shutdown
from queueit.realtime.admission import Gate
from queueit.realtime.backplane import Backplane, InMemoryBackplane
from queueit.realtime.hub import Hub
from queueit.realtime.redis_backplane import RedisBackplane
from queueit.realtime.source import ViewerTokens, ViewSource
from queueit.realtime.versions import VersionTracker

log = structlog.get_logger(__name__)


@dataclass
class Realtime:
    settings: Settings
    hub: Hub
    backplane: Backplane
    limiter: RateLimiter | None
    gate: Gate
    versions: VersionTracker  # what this process heard of each party's version
    signal_hook: shutdown.SignalHook | None = None


async def start(
    settings: Settings,
    *,
    database: Database,
    source: ViewSource,
    verifier: TokenVerifier,
    limiter: RateLimiter | None,
    viewers: ViewerTokens | None = None,
) -> Realtime:
    """Start fan-out; from now on committed events of `database` go to the backplane."""
    backplane: Backplane
    if settings.redis_url:
        backplane = RedisBackplane(
            settings.redis_url,
            channel=settings.realtime_redis_channel,
            timeout=settings.realtime_redis_timeout_seconds,
        )
    else:
        backplane = InMemoryBackplane()
        if settings.workers > 1:
            # Each worker process has its own memory: a change made through one worker would
            # never reach sockets held by another.
            log.warning("realtime_needs_redis", workers=settings.workers)
    hub = Hub(settings, source, verifier, viewers)
    backplane.add_listener(hub.on_event)
    backplane.add_gap_listener(hub.on_gap)
    # Every process hears every event only through Redis, or when it is the only process.
    versions = VersionTracker(backplane, complete=bool(settings.redis_url) or settings.workers <= 1)
    backplane.add_listener(versions.on_event)
    backplane.add_gap_listener(versions.on_gap)
    await backplane.start()
    versions.running = True
    await hub.start()
    database.publisher = backplane.publish_many
    realtime = Realtime(
        settings=settings,
        hub=hub,
        backplane=backplane,
        limiter=limiter,
        gate=Gate(settings, limiter),
        versions=versions,
    )
    realtime.signal_hook = shutdown.install(hub)
    log.info("realtime_started", backplane=type(backplane).__name__)
    return realtime


async def stop(realtime: Realtime) -> None:
    if realtime.signal_hook is not None:
        realtime.signal_hook.uninstall()
    realtime.versions.running = False
    await realtime.hub.stop()
    await realtime.backplane.stop()
