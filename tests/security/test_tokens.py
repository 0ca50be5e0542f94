"""Access tokens through the HTTP API: Supabase ES256/RS256 (JWKS) and legacy HS256 tokens work,
and every forged, stale or malformed token is a 401 in the envelope that leaves the worker
serving."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from tests.factories import auth, track
from tests.security.jwks import (
    JwksServer,
    SigningKey,
    es256_key,
    forge_hmac,
    rs256_key,
    supabase_claims,
)

HS_SECRET = "supabase-legacy-jwt-secret-" + "s" * 48  # long enough for HS512 too
ME = "/api/v1/users/me"


@pytest.fixture
def settings_overrides(jwks_server: JwksServer) -> dict[str, Any]:
    """Supabase mode with both key kinds: JWKS at the local server and the legacy secret."""
    return {"supabase_url": jwks_server.base_url, "supabase_jwt_secret": HS_SECRET}


def hs_token(claims: dict[str, Any], *, secret: str = HS_SECRET, **headers: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers or None)


def assert_401(response: httpx.Response, code: str = "token_invalid") -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]


# --- tokens that must work ---------------------------------------------------------------


@pytest.mark.parametrize("key_name", ["es_key", "rs_key"])
async def test_supabase_asymmetric_token_works_end_to_end(
    client: httpx.AsyncClient,
    jwks_server: JwksServer,
    request: pytest.FixtureRequest,
    key_name: str,
) -> None:
    key: SigningKey = request.getfixturevalue(key_name)
    sub = uuid.uuid4()
    headers = auth(key.sign(supabase_claims(jwks_server.base_url, sub=sub)))

    me = await client.get(ME, headers=headers)
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": str(sub),
        "username": None,  # user_metadata in the token never fills the profile
        "display_name": None,
        "music_provider": "none",
        "storefront": "us",
        "is_anonymous": False,
    }
    # A full account can set a provider and host a party with the same token.
    patched = await client.patch(ME, json={"music_provider": "spotify"}, headers=headers)
    assert patched.status_code == 200, patched.text
    created = await client.post("/api/v1/sessions/create", json={}, headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["session"]["host"]["id"] == str(sub)
    added = await client.post("/api/v1/songs/add", json=track(1), headers=headers)
    assert added.status_code == 200, added.text


async def test_supabase_guest_token_and_missing_is_anonymous_mean_guest(
    client: httpx.AsyncClient, jwks_server: JwksServer, es_key: SigningKey
) -> None:
    guest = es_key.sign(supabase_claims(jwks_server.base_url, is_anonymous=True))
    assert (await client.get(ME, headers=auth(guest))).json()["is_anonymous"] is True

    claims = supabase_claims(jwks_server.base_url)
    del claims["is_anonymous"]
    unmarked = await client.get(ME, headers=auth(es_key.sign(claims)))
    assert unmarked.status_code == 200
    assert unmarked.json()["is_anonymous"] is True


@pytest.mark.parametrize("kid", [None, "legacy"])
async def test_legacy_hs256_token_works_with_or_without_kid(
    client: httpx.AsyncClient, jwks_server: JwksServer, kid: str | None
) -> None:
    claims = supabase_claims(jwks_server.base_url)
    token = hs_token(claims, **({"kid": kid} if kid else {}))
    response = await client.get(ME, headers=auth(token))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == claims["sub"]


async def test_small_clock_skew_is_tolerated(
    client: httpx.AsyncClient, jwks_server: JwksServer, es_key: SigningKey
) -> None:
    now = int(time.time())
    just_expired = supabase_claims(jwks_server.base_url, iat=now - 3600, exp=now - 10)
    assert (await client.get(ME, headers=auth(es_key.sign(just_expired)))).status_code == 200
    slightly_ahead = supabase_claims(jwks_server.base_url, iat=now + 10, nbf=now + 10)
    assert (await client.get(ME, headers=auth(es_key.sign(slightly_ahead)))).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"supabase_jwt_secret": HS_SECRET}])
async def test_secret_only_mode_accepts_hs256_and_rejects_asymmetric(
    client: httpx.AsyncClient, es_key: SigningKey
) -> None:
    # Without SUPABASE_URL there is no issuer to check and no JWKS to consult.
    claims = supabase_claims("https://project.supabase.co")
    ok = await client.get(ME, headers=auth(hs_token(claims)))
    assert ok.status_code == 200, ok.text
    assert ok.json()["id"] == claims["sub"]
    assert_401(await client.get(ME, headers=auth(es_key.sign(claims))))
    local_style = hs_token(claims, secret="test-local-secret-" + "x" * 32)
    assert_401(await client.get(ME, headers=auth(local_style)))


async def test_missing_and_malformed_authorization(client: httpx.AsyncClient) -> None:
    assert_401(await client.get(ME), "token_missing")
    assert_401(await client.get(ME, headers={"Authorization": "Basic dXNlcjpwYXNz"}))
    assert_401(await client.get(ME, headers={"Authorization": "Bearer"}))
    assert_401(await client.get(ME, headers={"Authorization": "Bearer "}))


# --- the attack suite --------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    base_url: str
    es: SigningKey
    rs: SigningKey

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return supabase_claims(self.base_url, **overrides)

    def without(self, *names: str) -> dict[str, Any]:
        claims = self.claims()
        for name in names:
            del claims[name]
        return claims


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _tampered(keys: Keys) -> str:
    """A genuine signature over one payload, sent with another (a different user's sub)."""
    header, _, signature = keys.es.sign(keys.claims()).split(".")
    forged = _b64(json.dumps(keys.claims(sub=str(uuid.uuid4()))).encode())
    return f"{header}.{forged}.{signature}"


_OTHER_ES = es256_key()
_OTHER_RS = rs256_key()

ATTACKS: dict[str, tuple[Callable[[Keys], str], str]] = {
    "alg_none": (lambda k: _unsigned({"alg": "none", "typ": "JWT"}, k.claims()), "token_invalid"),
    "alg_none_with_kid": (
        lambda k: _unsigned({"alg": "None", "kid": k.es.kid, "typ": "JWT"}, k.claims()),
        "token_invalid",
    ),
    "hs256_signed_with_es_public_pem": (
        lambda k: forge_hmac({"alg": "HS256", "kid": k.es.kid}, k.claims(), k.es.public_pem()),
        "token_invalid",
    ),
    "hs256_signed_with_rs_public_pem": (
        lambda k: forge_hmac({"alg": "HS256", "typ": "JWT"}, k.claims(), k.rs.public_pem()),
        "token_invalid",
    ),
    "es256_signed_with_hs_secret": (
        lambda k: forge_hmac({"alg": "ES256", "kid": k.es.kid}, k.claims(), HS_SECRET.encode()),
        "token_invalid",
    ),
    "rs256_signed_with_hs_secret": (
        lambda k: forge_hmac({"alg": "RS256", "kid": k.rs.kid}, k.claims(), HS_SECRET.encode()),
        "token_invalid",
    ),
    "hs256_wrong_secret": (
        lambda k: hs_token(k.claims(), secret="not-the-secret-" + "z" * 32),
        "token_invalid",
    ),
    "hs512_with_the_secret": (
        lambda k: jwt.encode(k.claims(), HS_SECRET, algorithm="HS512"),
        "token_invalid",
    ),
    "rs_key_under_es_kid": (lambda k: k.rs.sign(k.claims(), kid=k.es.kid), "token_invalid"),
    "foreign_key_known_kid": (lambda k: _OTHER_ES.sign(k.claims(), kid=k.es.kid), "token_invalid"),
    "unknown_kid": (lambda k: _OTHER_RS.sign(k.claims()), "token_invalid"),
    "asymmetric_without_kid": (
        lambda k: jwt.encode(k.claims(), k.es.private, algorithm="ES256"),
        "token_invalid",
    ),
    "expired": (
        lambda k: k.es.sign(k.claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "token_expired",
    ),
    "expired_hs256": (
        lambda k: hs_token(k.claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "token_expired",
    ),
    "iat_in_the_future": (
        lambda k: k.es.sign(k.claims(iat=int(time.time()) + 600)),
        "token_invalid",
    ),
    "nbf_in_the_future": (
        lambda k: k.rs.sign(k.claims(nbf=int(time.time()) + 600)),
        "token_invalid",
    ),
    "iat_not_a_number": (lambda k: hs_token(k.claims(iat=str(int(time.time())))), "token_invalid"),
    "exp_not_a_number": (
        lambda k: hs_token(k.claims(exp=str(int(time.time()) + 3600))),
        "token_invalid",
    ),
    "wrong_audience": (lambda k: k.es.sign(k.claims(aud="service")), "token_invalid"),
    "missing_audience": (lambda k: k.es.sign(k.without("aud")), "token_invalid"),
    "audience_list": (
        lambda k: k.es.sign(k.claims(aud=["authenticated", "service"])),
        "token_invalid",
    ),
    "wrong_issuer": (
        lambda k: k.es.sign(k.claims(iss="https://evil.example.com/auth/v1")),
        "token_invalid",
    ),
    "missing_issuer": (lambda k: k.rs.sign(k.without("iss")), "token_invalid"),
    "missing_sub": (lambda k: k.es.sign(k.without("sub")), "token_invalid"),
    "non_uuid_sub": (lambda k: k.es.sign(k.claims(sub="user-42")), "token_invalid"),
    "numeric_sub": (lambda k: hs_token(k.claims(sub=42)), "token_invalid"),
    "missing_exp": (lambda k: k.es.sign(k.without("exp")), "token_invalid"),
    "missing_iat": (lambda k: k.es.sign(k.without("iat")), "token_invalid"),
    "role_anon": (lambda k: k.es.sign(k.claims(role="anon")), "token_invalid"),
    "role_service_role": (lambda k: hs_token(k.claims(role="service_role")), "token_invalid"),
    "missing_role": (lambda k: k.rs.sign(k.without("role")), "token_invalid"),
    "garbage": (lambda k: "garbage", "token_invalid"),
    "three_garbage_parts": (lambda k: "a.b.c", "token_invalid"),
    "header_not_an_object": (lambda k: f"{_b64(b'[1]')}.{_b64(b'{}')}.", "token_invalid"),
    "tampered_payload": (lambda k: _tampered(k), "token_invalid"),
    "oversized": (lambda k: k.es.sign(k.claims(padding="x" * 20_000)), "token_invalid"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_attack_is_rejected_with_401_and_the_worker_keeps_serving(
    client: httpx.AsyncClient,
    jwks_server: JwksServer,
    es_key: SigningKey,
    rs_key: SigningKey,
    attack: str,
) -> None:
    build, code = ATTACKS[attack]
    keys = Keys(jwks_server.base_url, es_key, rs_key)
    assert_401(await client.get(ME, headers=auth(build(keys))), code)
    # The same request on a route that writes is rejected the same way.
    assert_401(
        await client.post(
            "/api/v1/sessions/join", json={"join_code": "ABC"}, headers=auth(build(keys))
        ),
        code,
    )
    valid = await client.get(ME, headers=auth(es_key.sign(keys.claims())))
    assert valid.status_code == 200, valid.text
