"""Plain functions that make test data through the public API."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt

from queueit.catalog.local import DEMO_CATALOG_PATH, load_tracks
from queueit.core.security import LOCAL_ISSUER
from tests.conftest import TEST_SECRET


def token_for(
    user_id: uuid.UUID | None = None,
    *,
    is_anonymous: bool = False,
    secret: str = TEST_SECRET,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(user_id or uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + 3600,
        "is_anonymous": is_anonymous,
        "iss": LOCAL_ISSUER,  # what the server's own tokens carry (ignored in Supabase mode)
    }
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_user(
    client: httpx.AsyncClient,
    *,
    username: str | None = None,
    provider: str | None = None,
    anonymous: bool = False,
) -> dict[str, str]:
    """A provisioned user; returns auth headers (with the user id under 'X-Test-User')."""
    user_id = uuid.uuid4()
    headers = auth(token_for(user_id, is_anonymous=anonymous))
    body: dict[str, Any] = {}
    if username:
        body["username"] = username
    if provider:
        body["music_provider"] = provider
    if body:
        response = await client.patch("/api/v1/users/me", json=body, headers=headers)
    else:
        response = await client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 200, response.text
    return {**headers, "X-Test-User": str(user_id)}


async def make_host(client: httpx.AsyncClient, provider: str = "spotify") -> dict[str, str]:
    return await make_user(client, username=f"host-{uuid.uuid4().hex[:8]}", provider=provider)


def _catalog_tracks() -> list[dict[str, Any]]:
    """The bundled demo catalog, as the search routes return its tracks."""
    return [t.model_dump(mode="json") for t in load_tracks(DEMO_CATALOG_PATH)]


_CATALOG = _catalog_tracks()
_KEYS: dict[str, int] = {}


def track(key: int | str = 1, **overrides: Any) -> dict[str, Any]:
    """A real track of the bundled catalog, as a search returned it: the same one for the
    same key, a different one for each new key (while the catalog lasts). `overrides` change
    what the client sends (to test what the server makes of forged or bad fields)."""
    index = _KEYS.setdefault(str(key), len(_KEYS) % len(_CATALOG))
    return {**_CATALOG[index], **overrides}
