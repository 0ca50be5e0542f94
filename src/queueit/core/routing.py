"""PrefixRouter: an APIRouter that tells FastAPI "no match" at once for a path that none of
its routes can match, so a request is matched against the routes of one router, not all.

FastAPI asks every included router in turn whether it matches a request, and each router asks
every one of its routes (a regex plus several scope updates per route): about 40 route checks
per request with every router of this app, 42 % of the bare route's CPU
(docs/BENCHMARKS.md). A route's path regex is anchored and starts with the literal text
before the path's first `{`, so a path that starts with none of a router's literal heads
matches none of its routes (fully or partially): answering NONE for it changes no outcome,
including the trailing-slash redirect (the redirected path keeps the head).

The heads need the prefix the router is included under, which the router cannot see:
`include_in(app, prefix=...)` records it and includes the router. A FastAPI that never asks
an included router `matches` (older versions copy the routes into the app) skips the guard
and routes as before."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope


class PrefixRouter(APIRouter):
    """An APIRouter that skips its routes for paths outside their literal heads."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._included_under = ""
        self._heads: tuple[str, ...] = ()
        self._heads_of = -1  # len(self.routes) the heads were computed for

    def include_in(self, app: FastAPI, *, prefix: str = "", **kwargs: Any) -> None:
        """`app.include_router(self, prefix=prefix, ...)`, remembering the prefix."""
        self._included_under = prefix
        app.include_router(self, prefix=prefix, **kwargs)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not get_route_path(scope).startswith(self._literal_heads()):
            return Match.NONE, {}
        return super().matches(scope)

    def _literal_heads(self) -> tuple[str, ...]:
        if self._heads_of != len(self.routes):
            paths = [getattr(route, "path", None) for route in self.routes]
            if all(isinstance(path, str) for path in paths):
                heads = {self._included_under + str(path).split("{", 1)[0] for path in paths}
            else:  # a route without a path of its own (a nested router): no guard
                heads = {""}
            self._heads = tuple(heads)
            self._heads_of = len(self.routes)
        return self._heads
