"""GET /api/v1/spotify/search and /api/v1/catalog/search through the app (demo mode)."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import auth, make_user, token_for


async def test_demo_mode_spotify_search_uses_the_local_catalog(
    client: httpx.AsyncClient,
) -> None:
    headers = await make_user(client)

    response = await client.get("/api/v1/spotify/search", params={"q": "beat"}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"tracks"}
    assert len(body["tracks"]) <= 10
    first = body["tracks"][0]
    assert first["name"] == "Beat It"
    assert first["source"] == "local"
    assert set(first) == {
        "id",
        "isrc",
        "name",
        "artists",
        "album",
        "duration_ms",
        "image_url",
        "source",
        "explicit",
        # additive (party rules' search marks): the iOS app ignores keys it does not decode
        "allowed",
        "reason",
        "already_queued",
        "my_vote",
    }


async def test_catalog_search_names_its_source(client: httpx.AsyncClient) -> None:
    headers = await make_user(client)

    response = await client.get(
        "/api/v1/catalog/search", params={"q": "BEYONCE", "limit": 3}, headers=headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "local"
    assert len(body["tracks"]) == 3
    assert all("Beyoncé" in t["artists"] for t in body["tracks"])


async def test_explicit_local_source(client: httpx.AsyncClient) -> None:
    headers = await make_user(client)
    response = await client.get(
        "/api/v1/catalog/search", params={"q": "queen", "source": "local"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["source"] == "local"


@pytest.mark.parametrize("source", ["spotify", "apple_music"])
async def test_an_unconfigured_source_is_404(client: httpx.AsyncClient, source: str) -> None:
    headers = await make_user(client)

    response = await client.get(
        "/api/v1/catalog/search", params={"q": "queen", "source": source}, headers=headers
    )

    assert response.status_code == 404
    assert response.json()["code"] == "catalog_source_not_configured"


BAD_INPUT: list[dict[str, str | int]] = [
    {},
    {"q": ""},
    {"q": "   "},
    {"q": "x" * 201},
    {"q": "bell\x07"},
    {"q": "ok", "limit": 0},
    {"q": "ok", "limit": 51},
    {"q": "ok", "limit": "ten"},
]


@pytest.mark.parametrize("path", ["/api/v1/spotify/search", "/api/v1/catalog/search"])
async def test_bad_input_is_422_in_the_envelope(client: httpx.AsyncClient, path: str) -> None:
    headers = await make_user(client)

    for params in BAD_INPUT:
        response = await client.get(path, params=params, headers=headers)

        assert response.status_code == 422, (params, response.text)
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["request_id"] == response.headers["X-Request-ID"]


async def test_unknown_source_is_422(client: httpx.AsyncClient) -> None:
    headers = await make_user(client)
    response = await client.get(
        "/api/v1/catalog/search", params={"q": "x", "source": "deezer"}, headers=headers
    )
    assert response.status_code == 422


async def test_trimmed_query_of_200_characters_is_fine(client: httpx.AsyncClient) -> None:
    headers = await make_user(client)
    response = await client.get(
        "/api/v1/spotify/search", params={"q": "  " + "a" * 200 + "  "}, headers=headers
    )
    assert response.status_code == 200
    assert response.json() == {"tracks": []}


@pytest.mark.parametrize("path", ["/api/v1/spotify/search", "/api/v1/catalog/search"])
async def test_search_requires_a_token(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path, params={"q": "x"})).status_code == 401
    wrong = auth(token_for(secret="another-secret-" + "y" * 32))
    assert (await client.get(path, params={"q": "x"}, headers=wrong)).status_code == 401


async def test_routes_are_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/v1/spotify/search", "/api/v1/catalog/search"):
        operation = spec["paths"][path]["get"]
        assert operation["summary"]
        assert operation["description"]
        assert {"401", "422", "503"} <= set(operation["responses"])
