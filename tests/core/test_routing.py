"""PrefixRouter routes exactly as APIRouter does: the guard only skips routers that could not
have matched (exact routes, path parameters, 405 for a known path, the trailing-slash
redirect, 404), and matches a served request against its router once."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi import routing as fastapi_routing
from pytest import MonkeyPatch

from queueit.core.routing import _MATCHED, PrefixRouter


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


async def test_a_request_is_matched_against_its_router_once(monkeypatch: MonkeyPatch) -> None:
    # The guard calls the entry's `_match` (FastAPI's private `_IncludedRouter._match`) and
    # hands what it found to the entry's `handle`, which FastAPI has call `_match` again. This
    # fails when an upgrade renames `_match` or stops calling it from `handle` (the kept match
    # would be left over in the scope, and the router matched twice again).
    calls: list[str] = []
    match = fastapi_routing._IncludedRouter._match

    def counted(self: Any, scope: Any) -> Any:
        calls.append(scope["path"])
        return match(self, scope)

    monkeypatch.setattr(fastapi_routing._IncludedRouter, "_match", counted)
    app = _app()
    probe = PrefixRouter(prefix="/probe")

    @probe.get("/{name}")
    async def left_over(name: str, request: Request) -> dict[str, Any]:
        return {"name": name, "kept_match_left": _MATCHED in request.scope}

    probe.include_in(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/probe/x")
        assert response.json() == {"name": "x", "kept_match_left": False}
        assert calls == ["/probe/x"]
        calls.clear()
        assert (await c.get("/api/v1/songs/7/vote")).status_code == 405  # a partial match
        assert calls == ["/api/v1/songs/7/vote"]
