"""Fixtures for the token tests: real ES256/RS256 keys and a local JWKS server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.jwks import JwksServer, SigningKey, es256_key, rs256_key


@pytest.fixture(scope="session")
def es_key() -> SigningKey:
    return es256_key()


@pytest.fixture(scope="session")
def rs_key() -> SigningKey:
    return rs256_key()


@pytest.fixture
def jwks_server(es_key: SigningKey, rs_key: SigningKey) -> Iterator[JwksServer]:
    server = JwksServer([es_key, rs_key]).start()
    yield server
    server.stop()
