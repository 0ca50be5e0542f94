"""build_catalog: which providers exist, the default, and configurations refused at startup."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from queueit.catalog.errors import CatalogMisconfigured
from tests.catalog.conftest import (
    CatalogFactory,
    apple_overrides,
    catalog_settings,
    spotify_overrides,
)
from tests.catalog.fake_server import FakeServer


async def test_spotify_is_the_default_when_its_credentials_are_set(
    fake: FakeServer, make_catalog: CatalogFactory
) -> None:
    catalog = await make_catalog(catalog_settings(**spotify_overrides(fake)))
    assert catalog.default_source == "spotify"
    assert catalog.sources == ["local", "spotify"]


async def test_catalog_provider_picks_the_default(
    fake: FakeServer, apple_key: ec.EllipticCurvePrivateKey, make_catalog: CatalogFactory
) -> None:
    both = {**spotify_overrides(fake), **apple_overrides(fake, apple_key)}
    apple = await make_catalog(catalog_settings(**both, catalog_provider="apple_music"))
    local = await make_catalog(catalog_settings(**both, catalog_provider="local"))

    assert apple.default_source == "apple_music"
    assert local.default_source == "local"
    assert apple.sources == ["apple_music", "local", "spotify"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"spotify_client_id": "only-the-id"},
        {"apple_team_id": "TEAM", "apple_key_id": "KEY"},
        {"catalog_provider": "spotify"},
        {"catalog_provider": "apple_music"},
        {"local_catalog_path": "/nonexistent/catalog.csv"},
    ],
)
async def test_inconsistent_settings_are_refused(
    make_catalog: CatalogFactory, overrides: dict[str, Any]
) -> None:
    with pytest.raises(CatalogMisconfigured):
        await make_catalog(catalog_settings(**overrides))
