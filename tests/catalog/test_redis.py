"""With Redis, the search cache and the 429 circuit are shared by every instance."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from queueit.catalog.cache import KEY_PREFIX as CACHE_PREFIX
from queueit.catalog.circuit import KEY_PREFIX as CIRCUIT_PREFIX
from queueit.catalog.errors import CatalogUnavailable, TrackNotFound
from tests.catalog.conftest import (
    SPOTIFY_SEARCH,
    CatalogFactory,
    catalog_settings,
    spotify_overrides,
)
from tests.catalog.fake_server import FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, spotify_item, spotify_search
from tests.conftest import REDIS_URL, redis_available


async def _forget_catalog_keys(redis: Redis) -> None:
    for prefix in (CACHE_PREFIX, CIRCUIT_PREFIX):
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)


@pytest.fixture
def redis_reachable() -> None:
    """Sync on purpose: `redis_available()` runs its own event loop once per session."""
    if not redis_available():
        pytest.skip("Redis is not reachable")


@pytest.fixture
async def redis(redis_reachable: None) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await _forget_catalog_keys(client)
    try:
        yield client
    finally:
        await _forget_catalog_keys(client)
        await client.aclose()


async def test_instances_share_the_search_cache(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory, redis: Redis
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(200, spotify_search([spotify_item("shared")])))
    settings = catalog_settings(**spotify_overrides(fake))
    first = await make_catalog(settings, redis)
    second = await make_catalog(settings, redis)

    a = await first.search(query="Shared Query", limit=10, market="us")
    b = await second.search(query="shared query", limit=10, market="us")

    assert a == b
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 1
    ttl = [await redis.pttl(k) async for k in redis.scan_iter(match=f"{CACHE_PREFIX}*")]
    assert ttl and all(0 < t <= 60_000 for t in ttl)


async def test_one_instances_429_opens_the_circuit_everywhere(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory, redis: Redis
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(429, {}, headers={"Retry-After": "30"}))
    settings = catalog_settings(**spotify_overrides(fake))
    first = await make_catalog(settings, redis)
    second = await make_catalog(settings, redis)

    with pytest.raises(CatalogUnavailable):
        await first.search(query="one", limit=10, market="us")
    with pytest.raises(CatalogUnavailable) as raised:
        await second.search(query="two", limit=10, market="us")

    assert 29 <= int(raised.value.headers["Retry-After"]) <= 30
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 1
    assert second.health() == "degraded"


async def test_resolutions_are_shared_too(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory, redis: Redis
) -> None:
    from tests.catalog.test_matching import spotify_track

    fake.route("GET", SPOTIFY_SEARCH, Reply(200, spotify_search([spotify_item("sp")])))
    settings = catalog_settings(**spotify_overrides(fake))
    first = await make_catalog(settings, redis)
    second = await make_catalog(settings, redis)
    apple = spotify_track(id="1440", source="apple_music", isrc="USABC1234567")

    for catalog in (first, second):
        resolved = await catalog.resolve_for_host(apple, host_provider="spotify", storefront="us")
        assert resolved.id == "sp"
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 1


async def test_redis_trouble_degrades_to_no_cache(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(200, spotify_search([spotify_item("x")])))
    broken = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)), broken)
        for _ in range(2):
            results = await catalog.search(query="x", limit=10, market="us")
            assert [t.id for t in results.tracks] == ["x"]
    finally:
        await broken.aclose()
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 2


async def test_instances_share_verified_tracks(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory, redis: Redis
) -> None:
    """A track verified by one instance (or found missing) costs no other instance a call."""
    fake.route("GET", "/v1/tracks/shared1", Reply(200, spotify_item("shared1", name="Real")))
    settings = catalog_settings(**spotify_overrides(fake))
    first = await make_catalog(settings, redis)
    second = await make_catalog(settings, redis)

    assert (await first.verify("spotify", "shared1", storefront="us")).name == "Real"
    assert (await second.verify("spotify", "shared1", storefront="us")).name == "Real"
    for catalog in (first, second):
        with pytest.raises(TrackNotFound):
            await catalog.verify("spotify", "missing1", storefront="us")

    assert len(fake.calls_to("/v1/tracks/shared1")) == 1
    assert len(fake.calls_to("/v1/tracks/missing1")) == 1
