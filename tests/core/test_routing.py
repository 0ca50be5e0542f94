"""PrefixRouter routes exactly as APIRouter does: the guard only skips routers that could not
have matched (exact routes, path parameters, 405 for a known path, the trailing-slash
redirect, 404)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from queueit.core.routing import PrefixRouter


def _app() -> FastAPI:
    app = FastAPI()
    songs = PrefixRouter(prefix="/songs")
    party = PrefixRouter(prefix="/sessions")
    root = PrefixRouter()

    @songs.post("/{song_id:int}/vote")
    async def vote(song_id: int) -> dict[str, int]:
        return {"voted": song_id}

    @party.get("/current")
    async def current() -> dict[str, str]:
        return {"party": "current"}

    @root.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    root.include_in(app)
    songs.include_in(app, prefix="/api/v1")
    party.include_in(app, prefix="/api/v1")
    return app


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t")


async def test_routes_under_their_prefix_match() -> None:
    async with _client() as client:
        assert (await client.post("/api/v1/songs/7/vote")).json() == {"voted": 7}
        assert (await client.get("/api/v1/sessions/current")).json() == {"party": "current"}
        assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_a_known_path_with_another_method_is_405() -> None:
    async with _client() as client:
        assert (await client.get("/api/v1/songs/7/vote")).status_code == 405


async def test_the_trailing_slash_redirect_still_happens() -> None:
    async with _client() as client:
        response = await client.get("/api/v1/sessions/current/")
    assert response.status_code == 307
    assert response.headers["location"].endswith("/api/v1/sessions/current")


async def test_paths_outside_every_head_are_404() -> None:
    async with _client() as client:
        assert (await client.get("/sessions/current")).status_code == 404  # no include prefix
        assert (await client.get("/api/v1/songs/x/vote")).status_code == 404  # int convertor
        assert (await client.get("/nowhere")).status_code == 404
