"""Provider failures: the 429 circuit, retries on 5xx and timeouts, never a sleep in a request."""

from __future__ import annotations

import asyncio
import time

import pytest

from queueit.catalog.circuit import DEFAULT_RETRY_AFTER_SECONDS, parse_retry_after
from queueit.catalog.errors import CatalogUnavailable
from tests.catalog.conftest import (
    SPOTIFY_SEARCH,
    TOKEN_PATH,
    CatalogFactory,
    catalog_settings,
    counter,
    spotify_overrides,
)
from tests.catalog.fake_server import Call, FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, spotify_item, spotify_search

OK = Reply(200, spotify_search([spotify_item("ok")]))


class Script:
    """Replies in order, then the last one forever."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def __call__(self, call: Call) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


async def test_429_opens_the_circuit_until_retry_after(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Script(Reply(429, {}, headers={"Retry-After": "1"}), OK))
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    with pytest.raises(CatalogUnavailable) as first:
        await catalog.search(query="one", limit=1, market="us")
    assert first.value.headers == {"Retry-After": "1"}
    assert catalog.health() == "degraded"

    # While open: answered at once, without asking the provider (nor sleeping).
    started = time.perf_counter()
    with pytest.raises(CatalogUnavailable) as second:
        await catalog.search(query="two", limit=1, market="us")
    assert time.perf_counter() - started < 0.5
    assert second.value.headers["Retry-After"] == "1"
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 1

    await asyncio.sleep(1.05)
    results = await catalog.search(query="three", limit=1, market="us")
    assert [t.id for t in results.tracks] == ["ok"]
    assert catalog.health() == "ok"
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 2


async def test_429_on_the_token_endpoint_opens_the_circuit(
    fake: FakeServer, make_catalog: CatalogFactory
) -> None:
    fake.route("POST", TOKEN_PATH, Reply(429, {}, headers={"Retry-After": "30"}))
    fake.route("GET", SPOTIFY_SEARCH, OK)
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    for query in ("a", "b"):
        with pytest.raises(CatalogUnavailable) as raised:
            await catalog.search(query=query, limit=1, market="us")
        assert 29 <= int(raised.value.headers["Retry-After"]) <= 30
    assert len(fake.calls_to(TOKEN_PATH)) == 1
    assert fake.calls_to(SPOTIFY_SEARCH) == []


async def test_5xx_is_retried_once(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Script(Reply(502, {}), OK))
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    results = await catalog.search(query="x", limit=1, market="us")

    assert [t.id for t in results.tracks] == ["ok"]
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 2


async def test_persistent_5xx_is_503_after_one_retry(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(500, {"error": "boom"}))
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))
    before = counter(
        "queueit_catalog_provider_calls_total",
        provider="spotify",
        operation="search",
        outcome="server_error",
    )

    with pytest.raises(CatalogUnavailable) as raised:
        await catalog.search(query="x", limit=1, market="us")

    assert raised.value.status_code == 503
    assert "Retry-After" not in raised.value.headers
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 2
    after = counter(
        "queueit_catalog_provider_calls_total",
        provider="spotify",
        operation="search",
        outcome="server_error",
    )
    assert after - before == 2
    assert catalog.health() == "ok"


async def test_timeouts_are_retried_once_then_503(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(200, spotify_search([]), delay=2.0))
    catalog = await make_catalog(
        catalog_settings(**spotify_overrides(fake), catalog_timeout_seconds=0.15)
    )

    started = time.perf_counter()
    with pytest.raises(CatalogUnavailable):
        await catalog.search(query="slow", limit=1, market="us")

    assert time.perf_counter() - started < 1.5  # two 0.15 s attempts, not the 2 s reply
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 2


async def test_an_unreachable_provider_is_503(
    make_catalog: CatalogFactory,
) -> None:
    settings = catalog_settings(
        spotify_client_id="id",
        spotify_client_secret="secret",
        spotify_api_url="http://127.0.0.1:1/v1",
        spotify_accounts_url="http://127.0.0.1:1",
    )
    catalog = await make_catalog(settings)

    with pytest.raises(CatalogUnavailable):
        await catalog.search(query="x", limit=1, market="us")


async def test_unparseable_body_is_503(
    fake: FakeServer, tokens: TokenEndpoint, make_catalog: CatalogFactory
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(200, raw=b"<html>oops</html>"))
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))

    with pytest.raises(CatalogUnavailable):
        await catalog.search(query="x", limit=1, market="us")


def test_retry_after_parsing() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("0") == 1  # never 0: clients would retry at once
    assert parse_retry_after(None) == DEFAULT_RETRY_AFTER_SECONDS
    assert parse_retry_after("soon") == DEFAULT_RETRY_AFTER_SECONDS
    http_date = parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0)
    assert http_date == 30
