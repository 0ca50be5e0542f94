"""create_app(settings): the application factory and its lifespan."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import certifi
import httpx
import structlog
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis

from queueit import __version__
from queueit.auth.router import router as auth_router
from queueit.catalog.router import router as catalog_router
from queueit.catalog.service import build_catalog
from queueit.core import metrics, sentry, tasks
from queueit.core.db import create_engine, create_sessionmaker
from queueit.core.errors import install_error_handlers
from queueit.core.logging import configure_logging
from queueit.core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from queueit.core.ratelimit import RateLimiter, Scope, limit
from queueit.core.security import build_verifier
from queueit.core.settings import Environment, Settings
from queueit.core.state import AppState
from queueit.core.watchdog import ShutdownWatchdog
from queueit.health import bench as bench_routes
from queueit.health import exposition
from queueit.health.router import router as health_router
from queueit.queue.router import router as songs_router
from queueit.realtime import setup as realtime_setup
from queueit.realtime.router import router as realtime_router
from queueit.sessions.router import router as sessions_router
from queueit.users.router import router as users_router
from queueit.web.api import api_router as web_api_router
from queueit.web.router import router as web_router

log = structlog.get_logger(__name__)

DESCRIPTION = """The backend of QueueIT, a collaborative party music queue.

Every `/api/v1` route takes `Authorization: Bearer <token>` (except local-mode sign-in).
Every error has the shape `{"detail", "code", "request_id"}`."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The CA bundle, read once per process (reading it costs ~35 ms per app start)."""
    return ssl.create_default_context(cafile=certifi.where())


class StartupRefused(SystemExit):
    """The configuration is unsafe for production; the message says why."""


def _lifespan(
    settings: Settings, watchdog: ShutdownWatchdog | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        problems = settings.production_problems()
        if problems:
            for problem in problems:
                log.error("startup_refused", reason=problem)
            raise StartupRefused("refusing to start: " + "; ".join(problems))
        engine = create_engine(settings)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.catalog_timeout_seconds),
            headers={"User-Agent": f"queueit-server/{__version__}"},
            verify=_tls_context(),
        )
        state = AppState(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            http=http,
            verifier=build_verifier(settings, http),
        )
        if settings.redis_url:
            state.redis = Redis.from_url(
                settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
            )
        if settings.rate_limit_enabled:
            state.limiter = RateLimiter(settings)
        state.catalog = await build_catalog(settings, http, state.redis)
        app.state.ctx = state
        stop = asyncio.Event()
        background: list[asyncio.Task[None]] = []
        if state.verifier.jwks is not None:
            background.append(asyncio.create_task(state.verifier.jwks.warm_up(stop)))
        await realtime_setup.start(state)
        metrics.POOL.track(engine)
        metrics_server = await exposition.start_server(state)
        runner = tasks.TaskRunner(state, tasks.default_tasks(state))
        runner.start()
        log.info(
            "startup_complete",
            environment=settings.environment.value,
            auth_mode=settings.auth_mode,
            database=engine.dialect.name,
        )
        try:
            yield
        finally:
            if watchdog is not None:
                watchdog.arm()  # from here on the process must be gone within its bound
            stop.set()
            await runner.stop()
            if metrics_server is not None:
                await metrics_server.stop()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await realtime_setup.stop(state)
            if state.limiter is not None:
                await state.limiter.aclose()
            if state.catalog is not None:
                await state.catalog.aclose()
            await http.aclose()
            if state.redis is not None:
                await state.redis.aclose()
            await engine.dispose()
            metrics.POOL.untrack(engine)
            sentry.flush()
            log.info("shutdown_complete")

    return lifespan


def create_app(settings: Settings | None = None, *, watchdog: bool = False) -> FastAPI:
    """The application. `watchdog` (what `queueit serve` runs) ends the process when its
    shutdown takes longer than SHUTDOWN_WATCHDOG_SECONDS (core/watchdog.py)."""
    settings = settings or Settings()
    configure_logging(settings)
    sentry.init_sentry(settings)
    app = FastAPI(
        title="QueueIT server",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(
            settings, ShutdownWatchdog(settings.shutdown_watchdog_seconds) if watchdog else None
        ),
    )
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(web_router)
    # Included one by one (not through an /api/v1 router of routers): FastAPI builds each
    # route's context once per include level, and app start-up is paid by every test.
    for router in (
        auth_router,
        users_router,
        sessions_router,
        songs_router,
        catalog_router,
        web_api_router,
    ):
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(limit(Scope.DEFAULT))])
    app.include_router(realtime_router, prefix="/api/v1")  # WebSocket: no HTTP-only deps
    bench_routes.install(app, settings)  # BENCH_ENDPOINTS only; refused in production

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_credentials="*" not in settings.allowed_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=settings.cors_max_age,
        )
    app.add_middleware(
        RequestContextMiddleware, hsts=settings.environment == Environment.production
    )
    return app


def create_served_app() -> FastAPI:
    """The app `queueit serve` runs (uvicorn's factory): settings from the environment, the
    shutdown watchdog on."""
    return create_app(Settings(), watchdog=True)
