"""The application's typed state: everything the lifespan creates and tears down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from queueit.catalog.playlists import SpotifyPlaylists
from queueit.catalog.service import CatalogService
from queueit.core.ratelimit import RateLimiter
from queueit.core.schema import SchemaGate
from queueit.core.security import TokenVerifier
from queueit.core.settings import Settings
from queueit.core.uow import Database
from queueit.party.read_model import Entry, ReadModel
from queueit.party.read_model_caller import FastPath
from queueit.party.schemas import CurrentSessionOut
from queueit.party.vote_fast_path import VoteFastPath
from queueit.realtime.runtime import Realtime

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass
class HealthCache:
    """When the metrics scrape last refreshed the database-backed numbers (health/service)."""

    refreshed_at: float | None = None


@dataclass
class AppState:
    settings: Settings
    database: Database
    http: httpx.AsyncClient
    verifier: TokenVerifier
    catalog: CatalogService
    playlists: SpotifyPlaylists  # the host's history as a playlist in their account
    realtime: Realtime
    tv_key: bytes  # signs TV links (web/tv.py)
    schema: SchemaGate  # is the database at our migration head (core/schema.py)
    redis: Redis | None = None
    limiter: RateLimiter | None = None
    health: HealthCache = field(default_factory=HealthCache)
    # GET /sessions/current's documents, this process's own (party/read_model.py)
    read_model: ReadModel = field(default_factory=ReadModel)
    # ... and the one-statement answer of a hit on PostgreSQL (party/read_model_caller.py)
    fast_path: FastPath = field(init=False)
    # ... and a vote's common case in one statement there (party/vote_fast_path.py)
    vote_fast_path: VoteFastPath = field(init=False)
    bench_current: CurrentSessionOut | None = None  # BENCH_ENDPOINTS only (health/bench.py)
    bench_entry: Entry | None = None  # the same, cut as the read model cuts it

    def __post_init__(self) -> None:
        self.fast_path = FastPath(self.database, self.realtime.versions)
        self.vote_fast_path = VoteFastPath(self.database)
