"""Settings read from the environment and `.env` (every one is documented in ENV.example)."""

from __future__ import annotations

import math
from collections import Counter
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


# A production secret must look random: at least this many different characters, no
# character for more than a third of it, at least this many bits by its own character
# frequencies (Shannon), and no repeated pattern.
# `secrets.token_urlsafe(48)` (what the server generates) has about 60 distinct characters and
# 340 bits; `openssl rand -hex 32` has 16 symbols at most (about 240 bits by frequencies) and
# `openssl rand -hex 16` about 110 (never under 90 in 300,000 draws): hence bounds no higher.
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT = 8
MIN_SECRET_BITS = 80
SECRET_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
# Published defaults that pass the counts above (the Supabase CLI's local JWT secret).
KNOWN_SECRETS = frozenset({"super-secret-jwt-token-with-at-least-32-characters-long"})


def secret_weakness(value: str) -> str | None:
    """Why `value` is too weak to sign or guard anything in production, or None."""
    if value.strip().lower() in KNOWN_SECRETS:
        return "is a published example, not a secret"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    counts = Counter(value)
    if len(counts) < MIN_SECRET_DISTINCT:
        return f"has fewer than {MIN_SECRET_DISTINCT} different characters"
    if max(counts.values()) * 3 > len(value):
        return "is more than a third one character"
    bits = -sum(n * math.log2(n / len(value)) for n in counts.values())
    if bits < MIN_SECRET_BITS:
        return f"has about {bits:.0f} bits of entropy, under {MIN_SECRET_BITS}"
    for period in range(1, len(value) // 2 + 1):
        if all(value[i] == value[i + period] for i in range(len(value) - period)):
            return f"repeats a pattern of {period} characters"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    environment: Environment = Environment.development
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Path("./data")
    database_url: str = ""
    database_pool_size: int = 40  # connections per process at most, kept open (no overflow)
    database_timeout_seconds: float = 5.0
    allow_sqlite_in_production: bool = False
    # `queueit serve` applies migrations before serving (docs/DEPLOY.md). Unset: yes for the
    # embedded SQLite database, no for PostgreSQL (run `queueit migrate` as a release step;
    # migrating on start is for single-instance deployments).
    migrate_on_start: bool | None = None
    redis_url: str = ""

    supabase_url: str = ""
    supabase_jwt_secret: str = ""
    # The project's public anon key (docs/DEPLOY.md): lets the guest page sign guests in
    # anonymously through Supabase Auth. Public by design (it ships to every browser).
    supabase_anon_key: str = ""
    local_jwt_secret: str = ""
    local_token_ttl_seconds: int = 7 * 24 * 3600
    jwt_leeway_seconds: int = 30
    jwks_cache_seconds: int = 600
    jwks_refetch_interval_seconds: int = 30

    spotify_client_id: str = ""
    spotify_client_secret: str = ""
    spotify_api_url: str = "https://api.spotify.com/v1"
    spotify_accounts_url: str = "https://accounts.spotify.com"
    apple_team_id: str = ""
    apple_key_id: str = ""
    apple_private_key_base64: str = ""
    apple_private_key_path: str = ""
    apple_music_api_url: str = "https://api.music.apple.com/v1"
    catalog_provider: Literal["", "spotify", "apple_music", "local"] = ""
    local_catalog_path: str = ""
    catalog_timeout_seconds: float = 5.0
    search_cache_seconds: int = 300
    # Queue tracks of a catalog this server has no credentials for with the metadata the
    # client sent (docs/CATALOG.md "Trusted tracks"). Off by default; refused in production.
    allow_unverified_tracks: bool = False

    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_max_age: int = 3600
    rate_limit_enabled: bool = True
    # `scope=limit,...` replaces the built-in limit of a scope (core/ratelimit.py: LIMITS), e.g.
    # `songs_vote=120/minute;10/second`. Unknown scopes and unreadable limits fail the start.
    rate_limits: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 64 * 1024

    log_level: str = "INFO"
    log_json: bool | None = None
    sentry_dsn: str = ""
    sentry_traces_sample_rate: float = 0.0
    metrics_enabled: bool = True
    # A bearer token /metrics on the API port requires (`Authorization: Bearer ...`). In
    # production /metrics on the API port answers 404 unless this is set (or METRICS_PORT
    # serves it on a private listener instead).
    metrics_token: str = ""
    # /docs, /redoc and /openapi.json; unset: on, except in production.
    docs_enabled: bool | None = None

    presence_ttl_seconds: int = 90
    session_idle_hours: float = 12.0
    max_queue_length: int = 1000
    max_songs_per_guest: int = 50
    # Sybil resistance (docs/DOMAIN.md "Crowds and addresses"): members sharing one client
    # address (a keyed hash, never the raw IP) count at most this many times toward participants,
    # skip requests and the votes on one song (0: no cap); their waiting songs together are
    # capped at MAX_SONGS_PER_ADDRESS; a member counts for crowd skip only after being in the
    # party ESTABLISHED_MEMBER_SECONDS (the host always counts).
    members_counted_per_address: int = Field(default=2, ge=0)
    max_songs_per_address: int = Field(default=100, ge=1)
    established_member_seconds: int = Field(default=60, ge=0)

    # `queueit serve` facing the network (docs/DEPLOY.md, core/http_guard.py): a request's line
    # and headers must arrive within this many seconds (408 otherwise; 0 = no limit), and at
    # most this many connections (HTTP and WebSocket) are open per process (503 beyond; 0 = no
    # cap).
    serve_header_timeout_seconds: float = Field(default=10.0, ge=0)
    serve_max_connections: int = Field(default=1000, ge=0)
    # ... and at most this many of them per client address may still be sending their headers
    # (429 beyond; TRUSTED_PROXIES exempt; 0 = no cap).
    serve_max_pending_per_address: int = Field(default=32, ge=0)

    # Realtime WebSocket (docs/REALTIME.md).
    realtime_auth_timeout_seconds: float = 5.0
    realtime_buffer_size: int = 256
    realtime_max_message_bytes: int = 4096
    realtime_rate_limit_messages: int = 20
    realtime_rate_limit_seconds: float = 10.0
    realtime_close_timeout_seconds: float = 5.0
    realtime_presence_interval_seconds: float = 0.0
    realtime_redis_channel: str = "queueit:events"
    realtime_redis_timeout_seconds: float = 1.0
    realtime_ping_interval_seconds: float = 20.0
    realtime_ping_timeout_seconds: float = 20.0
    # Connection caps (realtime/admission.py), per process; 0 = no cap.
    realtime_max_unauthenticated_per_address: int = Field(default=32, ge=0)
    realtime_max_sockets_per_user: int = Field(default=5, ge=0)

    # Operations (docs/OPERATIONS.md): 0 serves /metrics on the API port; a port number serves
    # it there instead (on METRICS_HOST, default HOST) and the API port answers 404.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = ""
    # `queueit serve` exits with status 1 (after writing every thread's stack to stderr) when
    # its shutdown is still running this long after the app's own shutdown began; 0 turns the
    # watchdog off (core/watchdog.py).
    shutdown_watchdog_seconds: float = Field(default=15.0, ge=0)
    # Idle-session expiry runs this often in every instance (one at a time); 0 turns it off.
    session_sweep_seconds: float = Field(default=300.0, ge=0)

    # Benchmarks only (bench/README.md): mounts GET /bench/current, a bare copy of
    # GET /api/v1/sessions/current served from memory. Refused in production.
    bench_endpoints: bool = False

    # Web pages (docs/WEB.md): the origin guests reach the server at, used in join links and
    # QR codes (empty: derived from each request); the lifetime of a host's TV link.
    public_base_url: str = Field(default="", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$")
    tv_link_ttl_seconds: int = Field(default=12 * 3600, ge=60, le=30 * 24 * 3600)

    # Row-level security (docs/RLS.md): each request's transaction runs as queueit_user with the
    # caller's claims, system tasks as queueit_system (SET LOCAL ROLE). Unset: on for PostgreSQL.
    # Turn off for a login role that cannot SET ROLE; the policies then see the login role.
    database_rls: bool | None = None

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _split_pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for item in value.split(","):
            if not item.strip():
                continue
            name, sep, spec = item.partition("=")
            if not sep or not name.strip() or not spec.strip():
                raise ValueError(f"RATE_LIMITS entries are scope=limit, not {item.strip()!r}")
            pairs[name.strip()] = spec.strip()
        return pairs

    @field_validator("database_rls", "log_json", "migrate_on_start", "docs_enabled", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # `DATABASE_RLS=` as ENV.example writes it

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'queueit.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def migrates_on_start(self) -> bool:
        """Whether `queueit serve` migrates before serving (MIGRATE_ON_START; unset: SQLite)."""
        return self.is_sqlite if self.migrate_on_start is None else self.migrate_on_start

    @property
    def rls_enabled(self) -> bool:
        """Whether units of work switch to the row-level security roles (never on SQLite)."""
        if self.is_sqlite:
            return False
        return True if self.database_rls is None else self.database_rls

    @property
    def auth_mode(self) -> Literal["supabase", "local"]:
        return "supabase" if (self.supabase_url or self.supabase_jwt_secret) else "local"

    @property
    def supabase_auth_origin(self) -> str:
        """The Supabase origin the guest page signs guests in at (empty: no browser sign-in:
        local mode, no SUPABASE_URL, or no SUPABASE_ANON_KEY)."""
        if self.auth_mode != "supabase" or not self.supabase_url or not self.supabase_anon_key:
            return ""
        scheme, _, rest = self.supabase_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}" if rest else ""

    @property
    def serves_docs(self) -> bool:
        if self.docs_enabled is not None:
            return self.docs_enabled
        return self.environment != Environment.production

    @property
    def log_as_json(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment == Environment.production

    def production_problems(self) -> list[str]:
        """Reasons this configuration must not serve production traffic (empty when fine)."""
        if self.environment != Environment.production:
            return []
        problems: list[str] = []
        if self.auth_mode == "local" and not self.local_jwt_secret:
            problems.append("LOCAL_JWT_SECRET must be set to at least 32 characters in production")
        secrets = {
            "LOCAL_JWT_SECRET": self.local_jwt_secret if self.auth_mode == "local" else "",
            "SUPABASE_JWT_SECRET": self.supabase_jwt_secret,
            "METRICS_TOKEN": self.metrics_token,
        }
        for name, value in secrets.items():
            weakness = secret_weakness(value) if value else None
            if weakness:
                problems.append(f"{name} {weakness}; {SECRET_HINT}")
        if "*" in self.allowed_origins:
            problems.append(
                "ALLOWED_ORIGINS must not be '*' in production (credentials are allowed)"
            )
        if self.bench_endpoints:
            problems.append("BENCH_ENDPOINTS is for benchmarks only; unset it in production")
        if self.allow_unverified_tracks:
            problems.append(
                "ALLOW_UNVERIFIED_TRACKS lets clients name what a party shows; unset it in"
                " production"
            )
        if self.is_sqlite and not self.allow_sqlite_in_production:
            problems.append(
                "DATABASE_URL points at SQLite; set ALLOW_SQLITE_IN_PRODUCTION=true to accept it"
            )
        return problems
