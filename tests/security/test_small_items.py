"""Hostile guests, item 10 (the smaller holes): the local token's issuer is checked and an
audience list refused; `vote_value: true` is not a vote; `tv_link` never echoes the Host
header; HSTS only for HTTPS the server saw or a trusted proxy vouched for."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from queueit.core.middleware import is_https
from queueit.core.security import mint_local_token
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import auth, make_user, token_for
from tests.security.test_production import STRONG, serving
from tests.web.conftest import make_party

ME = "/api/v1/users/me"


# --- the local token's issuer and audience --------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": None},  # no issuer at all
        {"iss": "https://evil.example/auth/v1"},
        {"iss": ""},
        {"aud": ["authenticated"]},
        {"aud": ["authenticated", "service"]},
    ],
    ids=["missing_issuer", "other_issuer", "empty_issuer", "audience_list", "two_audiences"],
)
async def test_local_tokens_need_our_issuer_and_one_audience(
    client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    token = token_for(**claims) if claims.get("iss", "") is not None else _without_iss()
    response = await client.get(ME, headers=auth(token))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "token_invalid"


def _without_iss() -> str:
    now = int(time.time())
    payload = {
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + 60,
        "is_anonymous": True,
    }
    return jwt.encode(payload, TEST_SECRET, algorithm="HS256")


async def test_the_servers_own_tokens_work(client: httpx.AsyncClient) -> None:
    token = mint_local_token(TEST_SECRET, sub=uuid.uuid4(), is_anonymous=True, ttl_seconds=60)
    assert (await client.get(ME, headers=auth(token))).status_code == 200
    signed_in = await client.post("/api/v1/auth/anonymous", json={"display_name": "Sam"})
    guest = auth(signed_in.json()["access_token"])
    assert (await client.get(ME, headers=guest)).status_code == 200


# --- vote_value is an integer ----------------------------------------------------------


@pytest.mark.parametrize("value", [True, False, 1.0, "1", -1.0, None, [1]])
async def test_a_vote_is_the_integer_1_or_minus_1(client: httpx.AsyncClient, value: Any) -> None:
    party = await make_party(client, songs=2)
    guest = await make_user(client, anonymous=True)
    joined = await client.post(
        "/api/v1/sessions/join", json={"join_code": party.code}, headers=guest
    )
    assert joined.status_code == 200
    song_id = joined.json()["queue"][0]["id"]
    refused = await client.post(
        f"/api/v1/songs/{song_id}/vote", json={"vote_value": value}, headers=guest
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "validation_error"
    current = (await client.get("/api/v1/sessions/current", headers=guest)).json()
    assert current["my_votes"] == {}
    assert current["queue"][0]["votes"] == 0
    honest = await client.post(
        f"/api/v1/songs/{song_id}/vote", json={"vote_value": 1}, headers=guest
    )
    assert honest.status_code == 200, honest.text
    assert honest.json()["total_votes"] == 1


# --- tv_link never echoes the Host header ---------------------------------------------


async def test_tv_link_ignores_a_forged_host_header(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    response = await client.post(
        f"/api/v1/sessions/{party.id}/tv_link",
        headers={**party.host, "Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "evil" not in body["absolute_url"]
    assert body["absolute_url"] == body["url"]  # relative: PUBLIC_BASE_URL is unset


@pytest.mark.parametrize("settings_overrides", [{"public_base_url": "https://party.example"}])
async def test_tv_link_uses_only_the_configured_base(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    response = await client.post(
        f"/api/v1/sessions/{party.id}/tv_link", headers={**party.host, "Host": "evil.example"}
    )
    assert response.json()["absolute_url"] == "https://party.example" + response.json()["url"]


# --- HSTS only for HTTPS the server can believe ----------------------------------------


def scope(scheme: str, peer: str, proto: str | None = None) -> dict[str, Any]:
    headers = [(b"x-forwarded-proto", proto.encode())] if proto else []
    return {"type": "http", "scheme": scheme, "client": (peer, 5000), "headers": headers}


def test_forwarded_https_is_believed_only_from_trusted_proxies() -> None:
    trusted = ["10.0.0.0/8"]
    assert is_https(scope("https", "203.0.113.9"), [])  # TLS terminated by us
    assert not is_https(scope("http", "203.0.113.9", "https"), [])  # anyone can claim it
    assert not is_https(scope("http", "203.0.113.9", "https"), trusted)
    assert is_https(scope("http", "10.1.2.3", "https"), trusted)
    assert not is_https(scope("http", "10.1.2.3", "http"), trusted)
    assert not is_https(scope("http", "10.1.2.3"), trusted)


@pytest.mark.parametrize("proxies", [[], ["127.0.0.1/32"]])
async def test_hsts_in_production(database_url: str, tmp_path: Any, proxies: list[str]) -> None:
    settings = make_settings(
        database_url,
        tmp_path / "data",
        environment="production",
        allow_sqlite_in_production=True,
        local_jwt_secret=STRONG,
        allowed_origins=["https://party.example"],
        trusted_proxies=proxies,
    )
    async with serving(settings) as client:
        # httpx's ASGI transport connects from 127.0.0.1.
        claimed = await client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert ("strict-transport-security" in claimed.headers) is bool(proxies)
        plain = await client.get("/healthz")
        assert "strict-transport-security" not in plain.headers
        direct = await client.get("https://t/healthz")
        assert "strict-transport-security" in direct.headers
