"""A guest becomes a full account only through Supabase: the same `sub` arrives with a
full-account token (tests/security/test_identity.py: local tokens never upgrade)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.factories import auth, token_for

ME = "/api/v1/users/me"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Supabase mode with the legacy HS256 secret (the tests sign with it)."""
    return {"supabase_jwt_secret": TEST_SECRET}


async def test_guest_upgrade_flips_is_anonymous_and_keeps_the_profile(
    client: httpx.AsyncClient,
) -> None:
    sub = uuid.uuid4()
    guest = auth(token_for(sub, is_anonymous=True))
    named = await client.patch(ME, json={"storefront": "fr"}, headers=guest)
    assert named.status_code == 200
    assert named.json()["is_anonymous"] is True
    refused = await client.patch(ME, json={"username": "guest-sam"}, headers=guest)
    assert refused.status_code == 403
    assert refused.json()["code"] == "username_needs_account"

    # Same sub, now a full account; the claims carry other names that must not leak in.
    upgraded_token = token_for(
        sub,
        is_anonymous=False,
        email="sam@example.com",
        username="claims-username",
        user_metadata={"username": "meta-name", "display_name": "Meta Name"},
    )
    upgraded = await client.get(ME, headers=auth(upgraded_token))
    assert upgraded.status_code == 200
    assert upgraded.json() == {**named.json(), "is_anonymous": False}

    # An old guest token never turns the account back into a guest.
    old = await client.get(ME, headers=guest)
    assert old.json()["is_anonymous"] is False
    # The full account may now take a username, and host.
    renamed = await client.patch(
        ME,
        json={"username": "guest-sam", "music_provider": "spotify"},
        headers=auth(upgraded_token),
    )
    assert renamed.status_code == 200, renamed.text
    created = await client.post("/api/v1/sessions/create", json={}, headers=guest)
    assert created.status_code == 200, created.text
