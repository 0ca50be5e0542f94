"""The skeleton a client meets first: health, readiness, the envelope, request ids, limits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from queueit.main import create_app
from tests.conftest import make_settings
from tests.factories import auth, token_for


async def test_healthz_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = make_settings(
        "postgresql://postgres@127.0.0.1:1/none", tmp_path, database_timeout_seconds=0.5
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["database"] in ("down", "timeout")
            # An API call needing the database fails fast in the envelope, not with a hang.
            api = await client.get("/api/v1/users/me", headers=auth(token_for()))
            assert api.status_code == 503
            assert api.json()["code"] == "database_unavailable"
            assert "Retry-After" in api.headers


async def test_unknown_route_gets_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_bad_body_gets_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/api/v1/users/me", json={"storefront": 12, "bogus": True}, headers=auth(token_for())
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    locs = {tuple(item["loc"]) for item in body["detail"]}
    assert ("body", "bogus") in locs


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/api/v1/users/me",
        content=b"{not json",
        headers={**auth(token_for()), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_request_id_is_echoed_when_sane(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(response.headers["X-Request-ID"]) == 32


async def test_body_over_64kb_is_413(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/api/v1/users/me",
        content=b"x" * (70 * 1024),
        headers={**auth(token_for()), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_security_headers_are_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("settings_overrides", [{"allowed_origins": "https://party.example"}])
async def test_cors_preflight_is_cached(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/users/me",
        headers={"Origin": "https://party.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-max-age"] == "3600"
    assert response.headers["access-control-allow-origin"] == "https://party.example"
    refused = await client.options(
        "/api/v1/users/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert "access-control-allow-origin" not in refused.headers


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert "/api/v1/users/me" in schema["paths"]
