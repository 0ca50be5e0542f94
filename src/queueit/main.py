"""create_app(settings): the application factory and its lifespan, where every part is made
and wired (the composition root: the only module that knows all of them)."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import certifi
import httpx
import structlog
from fastapi import Depends, FastAPI
from redis.asyncio import Redis

from queueit import __version__
from queueit.api import auth, catalog, fallback, members, party, songs, users
from queueit.api.deps import rate_limited
from queueit.api.state import AppState
from queueit.catalog.playlists import build_playlists
from queueit.catalog.service import build_catalog
from queueit.core import heap, metrics, sentry, tasks
from queueit.core.engine import create_engine, create_sessionmaker
from queueit.core.errors import install_error_handlers
from queueit.core.logging import configure_logging
from queueit.core.middleware import (
    BodySizeLimitMiddleware,
    CorsWhenOrigin,
    LeanFastAPI,
    RequestContextMiddleware,
)
from queueit.core.ratelimit import RateLimiter, Scope
from queueit.core.schema import SchemaGate, SchemaGateMiddleware
from queueit.core.security import build_verifier
from queueit.core.settings import Environment, Settings
from queueit.core.uow import Database
from queueit.core.watchdog import ShutdownWatchdog
from queueit.flows.views import PartyViews
from queueit.health import bench as bench_routes
from queueit.health import exposition
from queueit.health.router import router as health_router
from queueit.party import expiry
from queueit.realtime import runtime
from queueit.realtime.router import router as realtime_router
from queueit.web import tv
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


@dataclass
class _Running:
    """What runs beside the requests, stopped in reverse order."""

    state: AppState
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    runner: tasks.TaskRunner | None = None
    metrics_server: exposition.MetricsServer | None = None


async def _start(settings: Settings, schema: SchemaGate) -> _Running:
    engine = create_engine(settings)
    await schema.start(engine)  # logs "run `queueit migrate`" when not at head
    database = Database(settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine))
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.catalog_timeout_seconds),
        headers={"User-Agent": f"queueit-server/{__version__}"},
        verify=_tls_context(),
    )
    redis = None
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    verifier = build_verifier(settings, http)
    limiter = RateLimiter(settings) if settings.rate_limit_enabled else None
    catalog = await build_catalog(settings, http, redis)  # fails fast on bad catalog settings
    tv_key = tv.signing_key(settings, verifier)
    realtime = await runtime.start(
        settings,
        database=database,
        source=PartyViews(database),
        verifier=verifier,
        limiter=limiter,
        viewers=tv.TvViewers(tv_key, leeway=settings.jwt_leeway_seconds),
    )
    state = AppState(
        settings=settings,
        database=database,
        http=http,
        verifier=verifier,
        catalog=catalog,
        playlists=build_playlists(settings, http, redis),
        realtime=realtime,
        tv_key=tv_key,
        schema=schema,
        redis=redis,
        limiter=limiter,
    )
    running = _Running(state)
    if not schema.ready:
        running.background.append(asyncio.create_task(schema.watch(running.stop)))
    if verifier.jwks is not None:
        running.background.append(asyncio.create_task(verifier.jwks.warm_up(running.stop)))
    metrics.POOL.track(engine)
    running.metrics_server = await exposition.start_server(state)
    sweep = tasks.PeriodicTask(
        name="session_sweep",
        interval=settings.session_sweep_seconds,
        run=lambda: expiry.sweep_idle_parties(database, idle_hours=settings.session_idle_hours),
    )
    running.runner = tasks.TaskRunner([sweep])
    running.runner.start()
    return running


async def _stop(running: _Running) -> None:
    """Close everything, each step on its own: one that fails (Redis gone mid-reconnect) is
    logged and the rest still close. A step skipped here leaves sockets open, and an event
    loop closed with open sockets can hang the process at exit."""
    state = running.state
    running.stop.set()
    for task in running.background:
        task.cancel()
    await asyncio.gather(*running.background, return_exceptions=True)
    steps: list[tuple[str, Callable[[], Awaitable[object]] | None]] = [
        ("tasks", running.runner.stop if running.runner else None),
        ("metrics_server", running.metrics_server.stop if running.metrics_server else None),
        ("realtime", functools.partial(runtime.stop, state.realtime)),
        ("rate_limiter", state.limiter.aclose if state.limiter else None),
        ("catalog", state.catalog.aclose),
        ("http", state.http.aclose),
        ("redis", state.redis.aclose if state.redis is not None else None),
        ("database", state.database.engine.dispose),
    ]
    for name, close in steps:
        if close is None:
            continue
        try:
            await close()
        except Exception as exc:
            log.warning("shutdown_step_failed", step=name, error=type(exc).__name__)
    metrics.POOL.untrack(state.database.engine)
    sentry.flush()


def _lifespan(
    settings: Settings, schema: SchemaGate, watchdog: ShutdownWatchdog | None, served: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        problems = settings.production_problems()
        if problems:
            for problem in problems:
                log.error("startup_refused", reason=problem)
            raise StartupRefused("refusing to start: " + "; ".join(problems))
        running = await _start(settings, schema)
        app.state.ctx = running.state
        app.state.realtime = running.state.realtime
        log.info(
            "startup_complete",
            environment=settings.environment.value,
            auth_mode=settings.auth_mode,
            database=running.state.database.dialect,
            schema=schema.state.value,
        )
        if served:
            heap.settle()  # what startup made lives as long as the process (core/heap.py)
        try:
            yield
        finally:
            if watchdog is not None:
                watchdog.arm()  # from here on the process must be gone within its bound
            await _stop(running)
            log.info("shutdown_complete")

    return lifespan


def create_app(
    settings: Settings | None = None, *, watchdog: bool = False, served: bool = False
) -> FastAPI:
    """The application. `watchdog` (what `queueit serve` runs) ends the process when its
    shutdown takes longer than SHUTDOWN_WATCHDOG_SECONDS (core/watchdog.py); `served` (also
    `queueit serve`'s) sets the process's garbage collector once startup is done
    (core/heap.py)."""
    settings = settings or Settings()
    configure_logging(settings)
    sentry.init_sentry(settings)
    schema = SchemaGate()
    app = LeanFastAPI(
        title="QueueIT server",
        version=__version__,
        description=DESCRIPTION,
        # Off in production unless DOCS_ENABLED=true: the schema maps every route for a
        # scanner (app.openapi() still builds it for tests and tools).
        docs_url="/docs" if settings.serves_docs else None,
        redoc_url="/redoc" if settings.serves_docs else None,
        openapi_url="/openapi.json" if settings.serves_docs else None,
        lifespan=_lifespan(
            settings,
            schema,
            ShutdownWatchdog(settings.shutdown_watchdog_seconds) if watchdog else None,
            served,
        ),
    )
    app.state.settings = settings
    install_error_handlers(app)
    health_router.include_in(app)
    web_router.include_in(app)
    # Included one by one (not through an /api/v1 router of routers): FastAPI builds each
    # route's context once per include level, and app start-up is paid by every test.
    for router in (
        auth.router,
        users.router,
        party.router,
        fallback.router,
        members.router,
        songs.router,
        catalog.router,
        web_api_router,
    ):
        if router is party.router:
            # BENCH_ENDPOINTS only (refused in production). The bare route is asked where the
            # snapshot route is, after the same routers: it measures that route's stack.
            bench_routes.install(app, settings)
        router.include_in(
            app, prefix="/api/v1", dependencies=[Depends(rate_limited(Scope.DEFAULT))]
        )
    app.include_router(realtime_router, prefix="/api/v1")  # WebSocket: no HTTP-only deps
    app.docs_routes_last()  # asked after the API's routes (core/middleware.py)
    _add_middleware(app, settings, schema)
    return app


def _add_middleware(app: FastAPI, settings: Settings, schema: SchemaGate) -> None:
    app.add_middleware(SchemaGateMiddleware, gate=schema)  # innermost: CORS headers apply
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.allowed_origins:
        app.add_middleware(
            CorsWhenOrigin,
            allow_origins=settings.allowed_origins,
            allow_credentials="*" not in settings.allowed_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=settings.cors_max_age,
        )
    app.add_middleware(
        RequestContextMiddleware,
        hsts=settings.environment == Environment.production,
        trusted_proxies=settings.trusted_proxies,
    )


def create_served_app() -> FastAPI:
    """The app `queueit serve` runs (uvicorn's factory): settings from the environment, the
    shutdown watchdog on, the garbage collector settled after startup."""
    return create_app(Settings(), watchdog=True, served=True)
