"""The application's typed state: everything the lifespan creates and tears down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from queueit.core.security import TokenVerifier
from queueit.core.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from queueit.catalog.service import CatalogService
    from queueit.core.ratelimit import RateLimiter
    from queueit.realtime.backplane import Backplane
    from queueit.realtime.hub import Hub


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    verifier: TokenVerifier
    redis: Redis | None = None
    backplane: Backplane | None = None
    hub: Hub | None = None
    limiter: RateLimiter | None = None
    catalog: CatalogService | None = None
    extras: dict[str, Any] = field(default_factory=dict)
