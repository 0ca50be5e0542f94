"""Supabase's key set through the HTTP API: cached, refetched on an unknown kid at most once
per interval, rotated, and an outage at startup neither blocks nor kills the server."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from queueit.main import create_app
from tests.clock import FakeClock
from tests.conftest import make_settings
from tests.factories import auth
from tests.security.jwks import (
    JwksServer,
    SigningKey,
    es256_key,
    forge_hmac,
    free_port,
    rs256_key,
    supabase_claims,
)

ME = "/api/v1/users/me"

# Key handling happens before any database work; the timing-heavy tests run on SQLite only
# (test_tokens.py covers both databases end to end).
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def jwks_settings() -> dict[str, Any]:
    """Per-test cache timings (parametrise this fixture to change them)."""
    return {}


@pytest.fixture
def settings_overrides(jwks_server: JwksServer, jwks_settings: dict[str, Any]) -> dict[str, Any]:
    """Supabase mode with asymmetric keys only (no legacy secret)."""
    return {"supabase_url": jwks_server.base_url, **jwks_settings}


@pytest.fixture
def clock(app: FastAPI) -> FakeClock:
    """The key cache's clock: its windows (cache lifetime, refetch interval) move by hand."""
    jwks = app.state.ctx.verifier.jwks
    fake = FakeClock(start=jwks.clock())
    jwks.clock = fake
    return fake


async def me_status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get(ME, headers=auth(token))).status_code


def token(key: SigningKey, server: JwksServer, *, kid: str | None = None) -> str:
    return key.sign(supabase_claims(server.base_url), kid=kid)


async def test_keys_are_fetched_once_and_cached(
    client: httpx.AsyncClient, jwks_server: JwksServer, es_key: SigningKey, rs_key: SigningKey
) -> None:
    for _ in range(5):
        assert await me_status(client, token(es_key, jwks_server)) == 200
        assert await me_status(client, token(rs_key, jwks_server)) == 200
    assert jwks_server.fetch_count == 1


@pytest.mark.parametrize("jwks_settings", [{"jwks_refetch_interval_seconds": 1}])
async def test_a_flood_of_random_kids_causes_at_most_one_fetch(
    client: httpx.AsyncClient, jwks_server: JwksServer, es_key: SigningKey, clock: FakeClock
) -> None:
    assert await me_status(client, token(es_key, jwks_server)) == 200
    clock.advance(1.1)  # the refetch interval has passed: one refetch is allowed
    before = jwks_server.fetch_count
    attacker = es256_key()

    async def attempt() -> httpx.Response:
        forged = attacker.sign(supabase_claims(jwks_server.base_url), kid=str(uuid.uuid4()))
        return await client.get(ME, headers=auth(forged))

    responses = await asyncio.gather(*(attempt() for _ in range(50)))
    assert {r.status_code for r in responses} == {401}
    assert {r.json()["code"] for r in responses} == {"token_invalid"}
    assert jwks_server.fetch_count - before <= 1
    # A second wave right after fetches nothing at all.
    after_first_wave = jwks_server.fetch_count
    responses = await asyncio.gather(*(attempt() for _ in range(50)))
    assert {r.status_code for r in responses} == {401}
    assert jwks_server.fetch_count == after_first_wave
    assert await me_status(client, token(es_key, jwks_server)) == 200


@pytest.mark.parametrize("jwks_settings", [{"jwks_refetch_interval_seconds": 1}])
async def test_a_new_key_is_accepted_after_one_refetch(
    client: httpx.AsyncClient,
    jwks_server: JwksServer,
    es_key: SigningKey,
    rs_key: SigningKey,
    clock: FakeClock,
) -> None:
    assert await me_status(client, token(es_key, jwks_server)) == 200
    rotated = rs256_key()
    jwks_server.publish(es_key, rs_key, rotated)
    clock.advance(1.1)
    before = jwks_server.fetch_count
    assert await me_status(client, token(rotated, jwks_server)) == 200
    assert jwks_server.fetch_count == before + 1
    # Known keys keep working without further fetches.
    assert await me_status(client, token(rotated, jwks_server)) == 200
    assert await me_status(client, token(es_key, jwks_server)) == 200
    assert jwks_server.fetch_count == before + 1


@pytest.mark.parametrize("jwks_settings", [{"jwks_cache_seconds": 2}])
async def test_a_removed_key_is_rejected_once_the_cache_expires(
    client: httpx.AsyncClient,
    jwks_server: JwksServer,
    es_key: SigningKey,
    rs_key: SigningKey,
    clock: FakeClock,
) -> None:
    assert await me_status(client, token(es_key, jwks_server)) == 200
    jwks_server.publish(rs_key)  # es_key retired
    clock.advance(1.9)
    assert await me_status(client, token(es_key, jwks_server)) == 200  # still cached
    clock.advance(0.2)
    retired = await client.get(ME, headers=auth(token(es_key, jwks_server)))
    assert retired.status_code == 401
    assert retired.json()["code"] == "token_invalid"
    assert await me_status(client, token(rs_key, jwks_server)) == 200


BROKEN_RESPONSES = {
    "server_error": (500, b'{"error": "boom"}'),
    "not_json": (200, b"<html>maintenance</html>"),
    "json_list": (200, b"[]"),
    "keys_not_a_list": (200, b'{"keys": 5}'),
    "keys_not_objects": (200, b'{"keys": ["x", 1, null]}'),
    "no_keys": (200, b'{"keys": []}'),
}


@pytest.mark.parametrize("jwks_settings", [{"jwks_cache_seconds": 1}])
@pytest.mark.parametrize("broken", sorted(BROKEN_RESPONSES))
async def test_a_broken_key_set_response_keeps_the_keys_we_had(
    client: httpx.AsyncClient,
    jwks_server: JwksServer,
    es_key: SigningKey,
    broken: str,
    clock: FakeClock,
) -> None:
    assert await me_status(client, token(es_key, jwks_server)) == 200
    jwks_server.status, jwks_server.broken_body = BROKEN_RESPONSES[broken]
    clock.advance(1.1)  # cache expired: the next request refetches and gets junk
    before = jwks_server.fetch_count
    assert await me_status(client, token(es_key, jwks_server)) == 200
    assert jwks_server.fetch_count == before + 1
    unknown = await client.get(ME, headers=auth(token(es256_key(), jwks_server)))
    assert unknown.status_code == 401


async def test_hs256_tokens_are_refused_without_the_legacy_secret(
    client: httpx.AsyncClient, jwks_server: JwksServer, es_key: SigningKey
) -> None:
    claims = supabase_claims(jwks_server.base_url)
    for forged in (
        jwt.encode(claims, "guess-" + "g" * 40, algorithm="HS256"),
        forge_hmac({"alg": "HS256", "kid": es_key.kid}, claims, es_key.public_pem()),
        forge_hmac({"alg": "HS256"}, claims, b""),
    ):
        response = await client.get(ME, headers=auth(forged))
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "token_invalid"


async def test_key_set_down_at_startup_gives_503_then_recovers(
    database_url: str, tmp_path: Path, es_key: SigningKey
) -> None:
    port = free_port()
    settings = make_settings(
        database_url,
        tmp_path / "data",
        supabase_url=f"http://127.0.0.1:{port}",
        jwks_refetch_interval_seconds=1,
    )
    app = create_app(settings)
    started = time.monotonic()
    async with LifespanManager(app, startup_timeout=10):
        assert time.monotonic() - started < 5  # startup does not wait for the key set
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200
            claims = supabase_claims(settings.supabase_url)
            headers = auth(es_key.sign(claims))
            down = await client.get(ME, headers=headers)
            assert down.status_code == 503, down.text
            assert down.json()["code"] == "auth_unavailable"
            assert "keys" in down.json()["detail"]

            server = JwksServer([es_key], port=port).start()
            try:
                statuses = []
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    response = await client.get(ME, headers=headers)
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        break
                    await asyncio.sleep(0.2)
                assert statuses[-1] == 200, statuses
                assert set(statuses) <= {503, 200}  # never 401 (would sign the app out), never 500
                assert response.json()["id"] == claims["sub"]
            finally:
                server.stop()
