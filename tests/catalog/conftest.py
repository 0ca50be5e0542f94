"""Catalog fixtures: a fake provider server, catalog settings, and an app with the catalog
wired (by the lead's lifespan when it does, else here)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client import REGISTRY

from queueit.catalog.service import CatalogService, build_catalog
from queueit.core.settings import Settings
from tests.catalog.fake_server import FakeServer
from tests.catalog.payloads import TokenEndpoint

TOKEN_PATH = "/api/token"
SPOTIFY_SEARCH = "/v1/search"
TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"

_NO_CATALOG_ENV: dict[str, Any] = {
    "spotify_client_id": "",
    "spotify_client_secret": "",
    "apple_team_id": "",
    "apple_key_id": "",
    "apple_private_key_base64": "",
    "apple_private_key_path": "",
    "catalog_provider": "",
    "local_catalog_path": "",
}


def catalog_settings(**overrides: Any) -> Settings:
    """Settings with every catalog variable explicit, so the developer's env cannot leak in."""
    values: dict[str, Any] = {
        **_NO_CATALOG_ENV,
        "environment": "test",
        "catalog_timeout_seconds": 3.0,
        "search_cache_seconds": 60,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def spotify_overrides(fake: FakeServer) -> dict[str, Any]:
    return {
        "spotify_client_id": "client-id",
        "spotify_client_secret": "client-secret",
        "spotify_api_url": f"{fake.url}/v1",
        "spotify_accounts_url": fake.url,
    }


def apple_overrides(fake: FakeServer, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "apple_team_id": TEAM_ID,
        "apple_key_id": KEY_ID,
        "apple_private_key_base64": base64.b64encode(pem).decode(),
        "apple_music_api_url": f"{fake.url}/v1",
    }


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tokens(fake: FakeServer) -> TokenEndpoint:
    endpoint = TokenEndpoint()
    fake.route("POST", TOKEN_PATH, endpoint)
    return endpoint


@pytest.fixture
def apple_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


class CatalogFactory:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.built: list[CatalogService] = []

    async def __call__(self, settings: Settings, redis: Any = None) -> CatalogService:
        catalog = await build_catalog(settings, self.http, redis, retry_backoff=0.01)
        self.built.append(catalog)
        return catalog


@pytest.fixture
async def make_catalog(http: httpx.AsyncClient) -> AsyncIterator[CatalogFactory]:
    factory = CatalogFactory(http)
    yield factory
    for catalog in factory.built:
        await catalog.aclose()
