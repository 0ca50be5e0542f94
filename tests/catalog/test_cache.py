"""The search cache: one provider call for many identical searches, and its metrics."""

from __future__ import annotations

import asyncio

import pytest

from queueit.catalog.cache import MemoryCache
from queueit.catalog.errors import CatalogUnavailable
from queueit.catalog.service import CatalogService
from tests.catalog.conftest import (
    SPOTIFY_SEARCH,
    CatalogFactory,
    catalog_settings,
    counter,
    spotify_overrides,
)
from tests.catalog.fake_server import Call, FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, spotify_item, spotify_search

HITS = "queueit_catalog_search_cache_hits_total"
MISSES = "queueit_catalog_search_cache_misses_total"
COALESCED = "queueit_catalog_search_coalesced_total"


def _echo(call: Call) -> Reply:
    name = f"{call.param('q')}|{call.param('market')}|{call.param('limit')}"
    return Reply(200, spotify_search([spotify_item("id", name=name)]), delay=0.1)


async def _spotify(
    fake: FakeServer, make_catalog: CatalogFactory, **overrides: object
) -> CatalogService:
    fake.route("GET", SPOTIFY_SEARCH, _echo)
    return await make_catalog(catalog_settings(**spotify_overrides(fake), **overrides))


async def test_a_cache_hit_avoids_the_provider_and_moves_the_counters(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    catalog = await _spotify(fake, make_catalog)
    hits, misses = counter(HITS, provider="spotify"), counter(MISSES, provider="spotify")

    first = await catalog.search(query="Beat It", limit=10, market="us")
    second = await catalog.search(query="  beat   it ", limit=10, market="US")

    assert second == first
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 1
    assert counter(MISSES, provider="spotify") - misses == 1
    assert counter(HITS, provider="spotify") - hits == 1


async def test_market_limit_and_provider_are_part_of_the_key(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    catalog = await _spotify(fake, make_catalog)

    await catalog.search(query="x", limit=10, market="us")
    await catalog.search(query="x", limit=10, market="gb")
    await catalog.search(query="x", limit=5, market="us")
    local = await catalog.search(query="x", limit=10, market="us", source="local")

    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 3
    assert local.source == "local"


async def test_identical_concurrent_misses_share_one_call(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    catalog = await _spotify(fake, make_catalog)
    misses, coalesced = counter(MISSES, provider="spotify"), counter(COALESCED, provider="spotify")

    results = await asyncio.gather(
        *(catalog.search(query="party", limit=10, market="us") for _ in range(50))
    )

    assert len({r.model_dump_json() for r in results}) == 1
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 1
    assert counter(MISSES, provider="spotify") - misses == 1
    assert counter(COALESCED, provider="spotify") - coalesced == 49


async def test_a_cancelled_caller_does_not_cancel_the_shared_call(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    catalog = await _spotify(fake, make_catalog)

    leader = asyncio.create_task(catalog.search(query="shared", limit=10, market="us"))
    await asyncio.sleep(0.02)
    follower = asyncio.create_task(catalog.search(query="shared", limit=10, market="us"))
    await asyncio.sleep(0.02)
    leader.cancel()

    results = await follower
    assert [t.name for t in results.tracks] == ["shared|US|10"]
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 1


async def test_zero_ttl_disables_the_cache(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    catalog = await _spotify(fake, make_catalog, search_cache_seconds=0)

    await catalog.search(query="x", limit=10, market="us")
    await catalog.search(query="x", limit=10, market="us")

    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 2


async def test_cached_results_are_served_while_the_circuit_is_open(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    catalog = await _spotify(fake, make_catalog)
    cached = await catalog.search(query="kept", limit=10, market="us")
    fake.route("GET", SPOTIFY_SEARCH, Reply(429, {}, headers={"Retry-After": "60"}))
    with pytest.raises(CatalogUnavailable):
        await catalog.search(query="new", limit=10, market="us")

    assert await catalog.search(query="kept", limit=10, market="us") == cached
    assert catalog.health() == "degraded"


async def test_memory_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache = MemoryCache(max_entries=3, max_bytes=10, clock=lambda: now[0])
    await cache.set("a", b"1234", ttl=5)
    await cache.set("b", b"1234", ttl=5)
    await cache.set("c", b"1234", ttl=5)  # 12 bytes > 10: the oldest goes
    assert await cache.get("a") is None
    assert await cache.get("b") == b"1234"
    await cache.set("huge", b"x" * 11, ttl=5)  # larger than the whole cache: not stored
    assert await cache.get("huge") is None
    now[0] = 5.0
    assert await cache.get("b") is None  # expired
