"""The catalog service: picks a provider, caches searches, resolves tracks across catalogs.

Built once at startup by `build_catalog` and kept on the app state (`state.catalog`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from typing import TYPE_CHECKING

import httpx
import structlog
from pydantic import TypeAdapter, ValidationError

from queueit.catalog import metrics
from queueit.catalog.apple_music import (
    AppleDeveloperToken,
    AppleMusicProvider,
    apple_configured,
    load_private_key,
)
from queueit.catalog.cache import MemoryCache, RedisCache, ResultCache, SingleFlight
from queueit.catalog.circuit import Circuit
from queueit.catalog.errors import (
    CatalogMisconfigured,
    CatalogNotConfigured,
    CatalogSourceNotConfigured,
    CatalogUnavailable,
    TrackNotFound,
    TrackUnavailable,
)
from queueit.catalog.http import DEFAULT_RETRY_BACKOFF_SECONDS, ProviderHttp
from queueit.catalog.local import load_local_catalog
from queueit.catalog.matching import find_match
from queueit.catalog.normalize import cache_key_text
from queueit.catalog.providers import CatalogProvider
from queueit.catalog.schemas import SearchResults, Source, Track
from queueit.catalog.spotify import SpotifyProvider
from queueit.core.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

__all__ = [
    "CatalogService",
    "CatalogSourceNotConfigured",
    "CatalogUnavailable",
    "TrackUnavailable",
    "build_catalog",
]

HOST_CATALOGS: dict[str, Source] = {"spotify": "spotify", "apple": "apple_music"}
CATALOG_NAMES: dict[str, str] = {
    "spotify": "Spotify",
    "apple_music": "Apple Music",
    "local": "local",
}
RESOLVED_TTL_SECONDS = 24 * 3600.0
UNAVAILABLE_TTL_SECONDS = 600.0
VERIFIED_TTL_SECONDS = 24 * 3600.0
NOT_FOUND_TTL_SECONDS = 600.0
_NOT_FOUND = b"null"
_TRACKS = TypeAdapter(list[Track])


def _digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:32]


class CatalogService:
    def __init__(
        self,
        *,
        providers: dict[Source, CatalogProvider],
        default_source: Source,
        cache: ResultCache,
        search_ttl: float,
    ) -> None:
        if default_source not in providers:
            raise CatalogMisconfigured(f"the default catalog {default_source!r} is not set up")
        self._providers = providers
        self.default_source: Source = default_source
        self._cache = cache
        self._search_ttl = search_ttl
        self._search_flights: SingleFlight[list[Track]] = SingleFlight()
        self._resolve_flights: SingleFlight[Track | None] = SingleFlight()
        self._verify_flights: SingleFlight[Track | None] = SingleFlight()

    @property
    def sources(self) -> list[Source]:
        return sorted(self._providers)

    def has(self, source: Source) -> bool:
        return source in self._providers

    def provider(self, source: Source | None = None) -> CatalogProvider:
        """The provider for `source` (the default when None); 400 when it is not set up."""
        chosen = source or self.default_source
        provider = self._providers.get(chosen)
        if provider is None:
            raise CatalogSourceNotConfigured(
                f"The {CATALOG_NAMES[chosen]} catalog is not configured on this server; "
                f"available: {', '.join(self.sources)}."
            )
        return provider

    async def search(
        self, *, query: str, limit: int, market: str, source: Source | None = None
    ) -> SearchResults:
        """Tracks matching `query` from `source` (default: CATALOG_PROVIDER). Remote results
        are cached for SEARCH_CACHE_SECONDS per (provider, market, limit, normalised query);
        identical concurrent misses share one provider call."""
        provider = self.provider(source)
        query = " ".join(query.split())
        if not query:
            return SearchResults(tracks=[], source=provider.source)
        if provider.source == "local":  # already an in-memory index: nothing to save
            tracks = await provider.search(query, limit=limit, market=market)
            return SearchResults(tracks=tracks, source="local")
        market = market.lower()
        key = f"search:{provider.source}:{market}:{limit}:{_digest(cache_key_text(query))}"
        cached = await self._cache.get(key)
        if cached is not None:
            try:
                tracks = _TRACKS.validate_json(cached)
            except ValidationError:
                log.warning("catalog_cache_entry_invalid", provider=provider.source)
            else:
                metrics.SEARCH_CACHE_HITS.labels(provider.source).inc()
                return SearchResults(tracks=tracks, source=provider.source)

        led = False

        async def fetch() -> list[Track]:
            nonlocal led
            led = True
            metrics.SEARCH_CACHE_MISSES.labels(provider.source).inc()
            found = await provider.search(query, limit=limit, market=market)
            await self._cache.set(key, _TRACKS.dump_json(found), ttl=self._search_ttl)
            return found

        tracks = await self._search_flights.run(key, fetch)
        if not led:
            metrics.SEARCH_COALESCED.labels(provider.source).inc()
        return SearchResults(tracks=tracks, source=provider.source)

    async def search_spotify_compatible(
        self, *, query: str, limit: int, market: str
    ) -> SearchResults:
        """`GET /spotify/search`: Spotify when configured, else the default catalog (so the
        iOS app still finds tracks in demo mode)."""
        source: Source | None = "spotify" if self.has("spotify") else None
        return await self.search(query=query, limit=limit, market=market, source=source)

    async def verify(self, source: Source, track_id: str, *, storefront: str) -> Track:
        """The catalog's own record of track `(source, track_id)`: the bundled entry (local),
        `GET /tracks/{id}` (Spotify), the catalog song in `storefront` (Apple Music). Nothing
        else a client sent is used. Cached (a track 24 h, "no such track" 10 min); concurrent
        lookups of one track share one provider call.

        Raises CatalogNotConfigured (422) when this server has no `source` catalog,
        TrackNotFound (422) when the catalog has no such track, CatalogUnavailable (503)
        when the provider fails (never cached)."""
        provider = self._providers.get(source)
        if provider is None:
            metrics.VERIFICATIONS.labels(source, "not_configured").inc()
            raise CatalogNotConfigured(
                f"The {CATALOG_NAMES[source]} catalog is not configured on this server, so "
                "its tracks cannot be added."
            )
        market = storefront.lower()
        if source == "local":  # an in-memory index: nothing to cache
            found = await provider.get_track(track_id, market=market)
            metrics.VERIFICATIONS.labels(source, "found" if found else "not_found").inc()
            if found is None:
                raise self._not_found(source)
            return found
        key = f"track:{source}:{market}:{_digest(track_id)}"
        cached = await self._cache.get(key)
        if cached is not None:
            metrics.VERIFICATIONS.labels(source, "cached").inc()
            if cached == _NOT_FOUND:
                raise self._not_found(source)
            try:
                return Track.model_validate_json(cached)
            except ValidationError:
                log.warning("catalog_cache_entry_invalid", provider=source)

        async def fetch() -> Track | None:
            track = await provider.get_track(track_id, market=market)
            metrics.VERIFICATIONS.labels(source, "found" if track else "not_found").inc()
            if track is None:
                await self._cache.set(key, _NOT_FOUND, ttl=NOT_FOUND_TTL_SECONDS)
            else:
                await self._cache.set(
                    key, track.model_dump_json().encode(), ttl=VERIFIED_TTL_SECONDS
                )
            return track

        found = await self._verify_flights.run(key, fetch)
        if found is None:
            raise self._not_found(source)
        return found

    async def lookup_many(
        self, source: Source, track_ids: list[str], *, storefront: str
    ) -> dict[str, Track]:
        """The catalog's records of many tracks at once (batched requests), by id; ids the
        catalog does not know are missing. For re-verifying stored tracks (cli.py)."""
        provider = self.provider(source)
        found = await provider.get_tracks(track_ids, market=storefront.lower())
        return {track.id: track for track in found}

    @staticmethod
    def _not_found(source: Source) -> TrackNotFound:
        return TrackNotFound(f"The {CATALOG_NAMES[source]} catalog has no track with this id.")

    async def resolve_for_host(self, track: Track, *, host_provider: str, storefront: str) -> Track:
        """The version of `track` the host can play. `track` is a verified one (`verify`, or
        the songs table): matching never starts from a client's text.

        - Same catalog as the host's, a `local` track, or a host without a provider: as is.
        - Spotify track for an Apple Music host, or Apple Music track for a Spotify host:
          matched in the host's catalog and storefront (ISRC first, then a strict search).
        - The host's catalog is not configured on this server: as is (the host's app matches
          it on the device, as the original app did).
        Raises TrackUnavailable (422) when there is no match, CatalogUnavailable (503) when the
        provider fails."""
        target = HOST_CATALOGS.get(host_provider)
        if target is None or track.source in ("local", target):
            return track
        provider = self._providers.get(target)
        if provider is None:
            metrics.RESOLUTIONS.labels(target, "not_configured").inc()
            log.info("catalog_resolution_skipped", target=target, reason="not_configured")
            return track
        market = storefront.lower()
        fingerprint = track.model_dump_json(exclude={"image_url", "explicit"})
        key = f"resolve:{target}:{market}:{_digest(fingerprint)}"
        cached = await self._cache.get(key)
        if cached is not None:
            metrics.RESOLUTIONS.labels(target, "cached").inc()
            if cached == _NOT_FOUND:
                raise self._unavailable(target, market)
            try:
                return Track.model_validate_json(cached)
            except ValidationError:
                log.warning("catalog_cache_entry_invalid", provider=target)

        async def resolve() -> Track | None:
            found, how = await find_match(provider, track, market=market)
            metrics.RESOLUTIONS.labels(target, how).inc()
            log.info(
                "catalog_track_resolved",
                source=track.source,
                target=target,
                outcome=how,
                track_id=track.id,
                resolved_id=found.id if found else None,
            )
            if found is None:
                await self._cache.set(key, _NOT_FOUND, ttl=UNAVAILABLE_TTL_SECONDS)
            else:
                await self._cache.set(
                    key, found.model_dump_json().encode(), ttl=RESOLVED_TTL_SECONDS
                )
            return found

        resolved = await self._resolve_flights.run(key, resolve)
        if resolved is None:
            raise self._unavailable(target, market)
        return resolved

    @staticmethod
    def _unavailable(target: Source, market: str) -> TrackUnavailable:
        return TrackUnavailable(
            f"This track is not available in the host's {CATALOG_NAMES[target]} catalog "
            f"(storefront {market})."
        )

    def health(self) -> str:
        """`ok`, or `degraded` while a provider's rate-limit circuit is open."""
        statuses = [provider.health() for provider in self._providers.values()]
        return "ok" if all(status == "ok" for status in statuses) else "degraded"

    async def aclose(self) -> None:
        await asyncio.gather(
            self._search_flights.aclose(),
            self._resolve_flights.aclose(),
            self._verify_flights.aclose(),
        )
        await self._cache.clear()


def _check_spotify(settings: Settings) -> bool:
    if bool(settings.spotify_client_id) != bool(settings.spotify_client_secret):
        raise CatalogMisconfigured("set both SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET (or none)")
    return bool(settings.spotify_client_id)


def _check_apple(settings: Settings) -> bool:
    wanted = (
        settings.apple_team_id,
        settings.apple_key_id,
        settings.apple_private_key_base64 or settings.apple_private_key_path,
    )
    if any(wanted) and not apple_configured(settings):
        raise CatalogMisconfigured(
            "Apple Music needs APPLE_TEAM_ID, APPLE_KEY_ID and APPLE_PRIVATE_KEY_BASE64 "
            "(or APPLE_PRIVATE_KEY_PATH) together"
        )
    return apple_configured(settings)


async def build_catalog(
    settings: Settings,
    http: httpx.AsyncClient,
    redis: Redis | None,
    *,
    retry_backoff: float = DEFAULT_RETRY_BACKOFF_SECONDS,
) -> CatalogService:
    """Every configured provider, the search cache (Redis when given, else memory) and the
    rate-limit circuits (shared through Redis when given). Raises CatalogMisconfigured on
    half-set credentials, an unreadable key or catalog file, or a CATALOG_PROVIDER whose
    credentials are missing."""
    local = await asyncio.to_thread(
        functools.partial(
            load_local_catalog,
            settings.local_catalog_path,
            artwork_origin=settings.public_base_url,
        )
    )
    providers: dict[Source, CatalogProvider] = {"local": local}

    def provider_http(name: str) -> ProviderHttp:
        return ProviderHttp(
            name,
            http,
            circuit=Circuit(name, redis=redis),
            timeout=settings.catalog_timeout_seconds,
            retry_backoff=retry_backoff,
        )

    if _check_spotify(settings):
        providers["spotify"] = SpotifyProvider(
            provider_http("spotify"),
            api_url=settings.spotify_api_url,
            accounts_url=settings.spotify_accounts_url,
            client_id=settings.spotify_client_id,
            client_secret=settings.spotify_client_secret,
        )
    if _check_apple(settings):
        tokens = AppleDeveloperToken(
            team_id=settings.apple_team_id,
            key_id=settings.apple_key_id,
            private_key=load_private_key(settings),
        )
        providers["apple_music"] = AppleMusicProvider(
            provider_http("apple_music"), api_url=settings.apple_music_api_url, tokens=tokens
        )
    default: Source = settings.catalog_provider or (
        "spotify" if "spotify" in providers else "local"
    )
    if default not in providers:
        raise CatalogMisconfigured(
            f"CATALOG_PROVIDER={default} but that provider's credentials are not set"
        )
    cache: ResultCache = RedisCache(redis) if redis is not None else MemoryCache()
    log.info(
        "catalog_ready",
        providers=sorted(providers),
        default=default,
        local_tracks=len(local),
        shared_cache=redis is not None,
    )
    return CatalogService(
        providers=providers,
        default_source=default,
        cache=cache,
        search_ttl=float(settings.search_cache_seconds),
    )
