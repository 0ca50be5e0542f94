"""PrefixRouter: an APIRouter that tells FastAPI "no match" at once for a path that none of
its routes can match, so a request is matched against the routes of one router, not all.

FastAPI asks every entry of the app (one per included router) in turn whether it matches a
request, and each entry asks every route of its router (a regex plus several scope updates
per route): about 40 route checks per request with every router of this app, 42 % of the bare
route's CPU (docs/BENCHMARKS.md). A route's path regex is anchored and starts with the
literal text before the path's first `{`, so a path that starts with none of a router's
literal heads matches none of its routes (fully or partially): answering NONE for it changes
no outcome, including the trailing-slash redirect (the redirected path keeps the head).

The heads need the prefix the router is included under, which the router cannot see:
`include_in(app, prefix=...)` records it, includes the router, and puts the guard on the
app's entry for it (FastAPI's wrapper of an included router, whose own bookkeeping costs
about as much as the check it guards). A FastAPI without such an entry (older versions copy
the routes into the app), or a PrefixRouter included with `include_router`, routes as
before, unguarded."""

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
        """`app.include_router(self, prefix=prefix, ...)`, remembering the prefix, and the
        guard put on the app's entry for this router (see `_guard`)."""
        self._included_under = prefix
        app.include_router(self, prefix=prefix, **kwargs)
        entry = app.router.routes[-1] if app.router.routes else None
        if getattr(entry, "original_router", None) is self:
            _guard(entry, self)

    def literal_heads(self) -> tuple[str, ...]:
        """The literal text before the first `{` of every route's full path."""
        if self._heads_of != len(self.routes):
            paths = [getattr(route, "path", None) for route in self.routes]
            if all(isinstance(path, str) for path in paths):
                heads = {self._included_under + str(path).split("{", 1)[0] for path in paths}
            else:  # a route without a path of its own (a nested router): no guard
                heads = {""}
            self._heads = tuple(heads)
            self._heads_of = len(self.routes)
        return self._heads


_MATCHED = "queueit.matched"  # scope key: (entry, path, method, what the entry's _match found)


def _guard(entry: Any, router: PrefixRouter) -> None:
    """Answer "no match" on the app's own entry for `router` (FastAPI's wrapper of an included
    router), before the wrapper's scope bookkeeping and the router's `matches` run: the app
    asks each entry in turn, so this is the per-request cost of every router that does not
    serve the path (one string test instead of about 1 us each).

    For a path the router can serve, the entry is matched once, not twice. FastAPI answers the
    entry's `matches` with its `_match` (through the wrapper's and the router's `matches`,
    which only pass the entry along in the scope) and throws the found route away; the
    entry's `handle` then runs the same `_match` again to find it. Matching is a function of
    the scope's path and method and of the routes, so the guard calls `_match` directly, keeps
    what it found in the scope, and the entry's `_match` hands that back, once, to the
    `handle` of the same request (same entry, path and method; anything else matches anew).
    tests/core/test_routing.py fails if FastAPI stops calling `_match` from `handle`."""
    match_anew = entry._match

    def matches(scope: Scope) -> tuple[Match, Scope]:
        path = scope["path"] if not scope.get("root_path") else get_route_path(scope)
        heads = router._heads if router._heads_of == len(router.routes) else router.literal_heads()
        if not path.startswith(heads):
            return Match.NONE, {}
        found = match_anew(scope)
        if found[0] is not Match.NONE:
            scope[_MATCHED] = (entry, scope["path"], scope.get("method"), found)
        return found[0], {}

    def match_once(scope: Scope) -> tuple[Match, Scope, Any, Any]:
        kept = scope.pop(_MATCHED, None)
        if (
            kept is not None
            and kept[0] is entry
            and kept[1] == scope["path"]
            and kept[2] == scope.get("method")
        ):
            return kept[3]  # type: ignore[no-any-return]
        return match_anew(scope)  # type: ignore[no-any-return]

    entry.matches = matches
    entry._match = match_once
