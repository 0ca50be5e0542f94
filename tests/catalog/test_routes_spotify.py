"""The search routes with Spotify configured (a fake Spotify): market, and upstream failures
that must be 503 — never 401, which would sign the iOS user out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.catalog.conftest import SPOTIFY_SEARCH, spotify_overrides
from tests.catalog.fake_server import FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, spotify_item, spotify_search
from tests.factories import make_user


@pytest.fixture
def settings_overrides(fake: FakeServer, tokens: TokenEndpoint) -> dict[str, Any]:
    return {**spotify_overrides(fake), "catalog_timeout_seconds": 3.0}


async def test_spotify_search_uses_spotify_in_the_users_storefront(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(200, spotify_search([spotify_item("sp1")])))
    headers = await make_user(client)
    patched = await client.patch("/api/v1/users/me", json={"storefront": "gb"}, headers=headers)
    assert patched.status_code == 200

    response = await client.get(
        "/api/v1/spotify/search", params={"q": "song", "limit": 7}, headers=headers
    )

    assert response.status_code == 200, response.text
    assert [t["id"] for t in response.json()["tracks"]] == ["sp1"]
    assert response.json()["tracks"][0]["source"] == "spotify"
    (call,) = fake.calls_to(SPOTIFY_SEARCH)
    assert (call.param("market"), call.param("limit")) == ("GB", "7")

    default = await client.get("/api/v1/catalog/search", params={"q": "song"}, headers=headers)
    assert default.json()["source"] == "spotify"
    local = await client.get(
        "/api/v1/catalog/search", params={"q": "beat", "source": "local"}, headers=headers
    )
    assert local.json()["tracks"][0]["source"] == "local"


@pytest.mark.parametrize("status", [401, 403])
async def test_upstream_auth_failure_is_503(
    client: httpx.AsyncClient, fake: FakeServer, status: int
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(status, {"error": {"status": status}}))
    headers = await make_user(client)

    response = await client.get("/api/v1/spotify/search", params={"q": "x"}, headers=headers)

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "catalog_unavailable"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_rate_limited_upstream_is_503_with_retry_after(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    fake.route("GET", SPOTIFY_SEARCH, Reply(429, {}, headers={"Retry-After": "12"}))
    headers = await make_user(client)

    first = await client.get("/api/v1/spotify/search", params={"q": "a"}, headers=headers)
    second = await client.get("/api/v1/catalog/search", params={"q": "b"}, headers=headers)

    for response in (first, second):
        assert response.status_code == 503
        assert response.json()["code"] == "catalog_unavailable"
        assert 11 <= int(response.headers["Retry-After"]) <= 12
    assert len(fake.calls_to(SPOTIFY_SEARCH)) == 1
    ready = (await client.get("/readyz")).json()
    assert ready["checks"]["catalog"] == "degraded"
