"""create_app(settings): the application factory and its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from queueit import __version__
from queueit.auth.router import router as auth_router
from queueit.core.db import create_engine, create_sessionmaker
from queueit.core.errors import install_error_handlers
from queueit.core.logging import configure_logging
from queueit.core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from queueit.core.security import build_verifier
from queueit.core.settings import Environment, Settings
from queueit.core.state import AppState
from queueit.health.router import router as health_router
from queueit.queue.router import router as songs_router
from queueit.realtime import setup as realtime_setup
from queueit.sessions.router import router as sessions_router
from queueit.users.router import router as users_router

log = structlog.get_logger(__name__)

DESCRIPTION = """The backend of QueueIT, a collaborative party music queue.

Every `/api/v1` route takes `Authorization: Bearer <token>` (except local-mode sign-in).
Every error has the shape `{"detail", "code", "request_id"}`."""


class StartupRefused(SystemExit):
    """The configuration is unsafe for production; the message says why."""


def _lifespan(settings: Settings):  # type: ignore[no-untyped-def]
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
        )
        state = AppState(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            http=http,
            verifier=build_verifier(settings, http),
        )
        app.state.ctx = state
        stop = asyncio.Event()
        background: list[asyncio.Task[None]] = []
        if state.verifier.jwks is not None:
            background.append(asyncio.create_task(state.verifier.jwks.warm_up(stop)))
        await realtime_setup.start(state)
        log.info(
            "startup_complete",
            environment=settings.environment.value,
            auth_mode=settings.auth_mode,
            database=engine.dialect.name,
        )
        try:
            yield
        finally:
            stop.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await realtime_setup.stop(state)
            await http.aclose()
            await engine.dispose()
            log.info("shutdown_complete")

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)
    app = FastAPI(
        title="QueueIT server",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(settings),
    )
    install_error_handlers(app)
    api = APIRouter(prefix="/api/v1")
    api.include_router(auth_router)
    api.include_router(users_router)
    api.include_router(sessions_router)
    api.include_router(songs_router)
    app.include_router(health_router)
    app.include_router(api)

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
