"""Starting and stopping the realtime machinery with the app."""

from __future__ import annotations

import structlog

from queueit.core.state import AppState
from queueit.realtime import shutdown
from queueit.realtime.backplane import Backplane, InMemoryBackplane
from queueit.realtime.hub import Hub
from queueit.realtime.redis_backplane import RedisBackplane

log = structlog.get_logger(__name__)

_OWNS_REDIS = "realtime_owns_redis"
_SIGNALS = "realtime_signal_hook"


async def start(state: AppState) -> None:
    settings = state.settings
    backplane: Backplane
    if settings.redis_url:
        if state.redis is None:
            from redis.asyncio import Redis

            state.redis = Redis.from_url(settings.redis_url)
            state.extras[_OWNS_REDIS] = True
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
    hub = Hub(state)
    backplane.add_listener(hub.on_event)
    backplane.add_gap_listener(hub.on_gap)
    state.backplane = backplane
    state.hub = hub
    await backplane.start()
    await hub.start()
    state.extras[_SIGNALS] = shutdown.install(hub)
    log.info("realtime_started", backplane=type(backplane).__name__)


async def stop(state: AppState) -> None:
    hook = state.extras.pop(_SIGNALS, None)
    if isinstance(hook, shutdown.SignalHook):
        hook.uninstall()
    if state.hub is not None:
        await state.hub.stop()
    if state.backplane is not None:
        await state.backplane.stop()
    if state.extras.pop(_OWNS_REDIS, False) and state.redis is not None:
        await state.redis.aclose()
        state.redis = None
