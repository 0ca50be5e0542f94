"""A track from a catalog this server has no credentials for: refused by default (422
`catalog_not_configured`), queued with the client's text only when the operator opted in with
ALLOW_UNVERIFIED_TRACKS (refused in production)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from queueit.catalog.models import Song
from queueit.core.settings import Settings
from tests.conftest import TEST_SECRET
from tests.factories import make_host, make_user

API = "/api/v1"
APPLE_TRACK = {
    "id": "1001",
    "source": "apple_music",
    "name": "Sent Name",
    "artists": "Sent Artist",
    "album": "",
    "duration_ms": 200_000,
    "image_url": "",
    "isrc": "",
}


async def _guest_in_party(client: httpx.AsyncClient) -> dict[str, str]:
    host = await make_host(client)
    code = "U" + uuid.uuid4().hex[:6].upper()
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    guest = await make_user(client, anonymous=True)
    joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    return guest


async def _rows(app: FastAPI) -> list[Song]:
    async with app.state.ctx.database.sessionmaker() as db:
        return list((await db.execute(select(Song).where(Song.provider_id == "1001"))).scalars())


class TestByDefault:
    async def test_a_source_without_a_catalog_is_refused(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        guest = await _guest_in_party(client)
        response = await client.post(f"{API}/songs/add", json=APPLE_TRACK, headers=guest)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "catalog_not_configured"
        assert await _rows(app) == []


class TestOptedIn:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"allow_unverified_tracks": True}

    async def test_the_clients_text_is_queued_but_marked_unverified(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        guest = await _guest_in_party(client)
        response = await client.post(f"{API}/songs/add", json=APPLE_TRACK, headers=guest)
        assert response.status_code == 200, response.text
        assert response.json()["song"]["name"] == "Sent Name"
        (row,) = await _rows(app)
        assert row.verified_at is None
        # Opting in never loosens verification of catalogs the server has.
        local = await client.post(
            f"{API}/songs/add",
            json={**APPLE_TRACK, "id": "local:made-up-xyz", "source": "local"},
            headers=guest,
        )
        assert local.status_code == 422 and local.json()["code"] == "track_not_found"

    async def test_needs_only_source_and_id_elsewhere(self, client: httpx.AsyncClient) -> None:
        guest = await _guest_in_party(client)
        response = await client.post(
            f"{API}/songs/add", json={"id": "1001", "source": "apple_music"}, headers=guest
        )
        assert response.status_code == 422, response.text  # nothing to show: refused
        assert response.json()["code"] == "catalog_not_configured"


def test_production_refuses_unverified_tracks() -> None:
    settings = Settings(
        _env_file=None,
        environment="production",
        local_jwt_secret=TEST_SECRET,
        database_url="postgresql://u@h/db",
        allow_unverified_tracks=True,
    )
    assert any("ALLOW_UNVERIFIED_TRACKS" in p for p in settings.production_problems())
    settings = Settings(
        _env_file=None,
        environment="production",
        local_jwt_secret=TEST_SECRET,
        database_url="postgresql://u@h/db",
    )
    assert settings.production_problems() == []
