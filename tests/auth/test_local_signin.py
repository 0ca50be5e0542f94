"""POST /api/v1/auth/anonymous: guests sign in without an account in local auth mode."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from queueit.core.settings import Settings
from tests.conftest import TEST_SECRET
from tests.factories import auth

SIGN_IN = "/api/v1/auth/anonymous"
ME = "/api/v1/users/me"


async def test_guest_sign_in_issues_a_working_token(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post(SIGN_IN, json={"display_name": "  Sam  "})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.local_token_ttl_seconds
    user = body["user"]
    assert user["is_anonymous"] is True
    assert user["display_name"] == "Sam"
    assert user["username"] is None
    assert user["music_provider"] == "none"

    claims = jwt.decode(
        body["access_token"], TEST_SECRET, algorithms=["HS256"], audience="authenticated"
    )
    assert claims["sub"] == user["id"]
    assert claims["role"] == "authenticated"
    assert claims["is_anonymous"] is True
    assert claims["exp"] - claims["iat"] == settings.local_token_ttl_seconds
    assert abs(claims["iat"] - time.time()) < 60

    me = await client.get(ME, headers=auth(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == user


async def test_every_sign_in_is_a_new_guest(client: httpx.AsyncClient) -> None:
    first = (await client.post(SIGN_IN)).json()  # no body at all
    second = (await client.post(SIGN_IN, json={})).json()
    third = (await client.post(SIGN_IN, json={"display_name": None})).json()
    ids = {first["user"]["id"], second["user"]["id"], third["user"]["id"]}
    assert len(ids) == 3
    assert first["user"]["display_name"] is None


async def test_guest_token_can_join_but_not_host(client: httpx.AsyncClient) -> None:
    guest = auth((await client.post(SIGN_IN)).json()["access_token"])
    await client.patch(ME, json={"music_provider": "spotify"}, headers=guest)
    response = await client.post("/api/v1/sessions/create", json={}, headers=guest)
    assert response.status_code == 403
    assert response.json()["code"] == "guest_cannot_host"


async def test_display_name_is_normalised(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGN_IN, json={"display_name": "Cafe\u0301 \U0001f389"})
    assert response.status_code == 200
    assert response.json()["user"]["display_name"] == "Caf\u00e9 \U0001f389"
    longest = await client.post(SIGN_IN, json={"display_name": "x" * 30})
    assert longest.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 31},
        {"display_name": "x" * 5000},
        {"display_name": "Sam\x00"},
        {"display_name": "Sam\nSmith"},
        {"display_name": "Sam\u202e"},
        {"display_name": 42},
        {"display_name": ["Sam"]},
        {"display_name": "Sam", "is_anonymous": False},
        {"sub": str(uuid.uuid4())},
        {"role": "service_role"},
        ["Sam"],
        "Sam",
    ],
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post(SIGN_IN, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


async def test_local_tokens_from_another_secret_are_refused(client: httpx.AsyncClient) -> None:
    token = (await client.post(SIGN_IN)).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-local-secret-" + "q" * 32, algorithm="HS256")
    response = await client.get(ME, headers=auth(forged))
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {"supabase_jwt_secret": "supabase-legacy-jwt-secret-" + "s" * 32},
        {"supabase_url": "http://127.0.0.1:9"},  # nothing listens: the route must not care
    ],
)
async def test_guest_sign_in_is_404_in_supabase_mode(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGN_IN, json={"display_name": "Sam"})
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert "Supabase" in body["detail"]
    # A token minted with the local secret means nothing here.
    local = jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "aud": "authenticated",
            "role": "authenticated",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        TEST_SECRET,
        algorithm="HS256",
    )
    assert (await client.get(ME, headers=auth(local))).status_code == 401
