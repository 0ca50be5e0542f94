"""Prometheus metrics of the whole server, in the default registry (docs/OPERATIONS.md).

Labels are low-cardinality only: route templates, status codes, event names, reasons —
never ids, join codes, queries or user input. Other domains increment the objects below
(the realtime hub, the backplane, the rate limiter); the catalog keeps its own in
`catalog/metrics.py`, which the default registry exposes too.

One process, one registry: with several uvicorn workers each worker answers a scrape with its
own numbers only (see docs/OPERATIONS.md, "Several workers"), so run one worker per process
and scale out with replicas."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

from queueit import __version__

# -- HTTP ----------------------------------------------------------------------------------

HTTP_REQUEST_SECONDS = Histogram(
    "queueit_http_request_duration_seconds",
    "HTTP request latency by method, route template ('unmatched' when no route) and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_FLIGHT = Gauge(
    "queueit_http_requests_in_flight",
    "HTTP requests being served right now.",
)


class _InFlight:
    """The request middleware counts here (a plain integer: every request changes it twice,
    and only a scrape reads it)."""

    requests = 0


IN_FLIGHT = _InFlight()
HTTP_IN_FLIGHT.set_function(lambda: IN_FLIGHT.requests)
RATE_LIMITED = Counter(
    "queueit_rate_limited",
    "Requests rejected with 429 by scope (a fixed name per limit, e.g. 'search', 'vote').",
    ["scope"],
)

# -- Realtime (incremented by queueit.realtime) ----------------------------------------------

WS_CONNECTIONS = Gauge(
    "queueit_ws_connections",
    "Open realtime WebSocket connections on this process.",
)
WS_MESSAGES_SENT = Counter(
    "queueit_ws_messages_sent",
    "Realtime messages written to sockets, by event name.",
    ["event"],
)
_SENT_BY_EVENT: dict[str, Any] = {}


def count_sent(event: str, frames: int = 1) -> None:
    """Frames written to sockets (children are cached: this runs once per frame or event)."""
    child = _SENT_BY_EVENT.get(event)
    if child is None:
        child = _SENT_BY_EVENT[event] = WS_MESSAGES_SENT.labels(event=event or "other")
    child.inc(frames)


WS_MESSAGES_DROPPED = Counter(
    "queueit_ws_messages_dropped",
    "Realtime messages not delivered, by reason (e.g. 'overflow', 'closed').",
    ["reason"],
)
CONNECTIONS_REFUSED = Counter(
    "queueit_connections_refused",
    "Connections closed or refused by the connection guards, by reason (header_timeout, "
    "pending_per_address, over_cap: `queueit serve`; ws_unauthenticated, ws_user_cap: "
    "realtime).",
    ["reason"],
)
BACKPLANE_PUBLISHED = Counter(
    "queueit_backplane_published",
    "Messages published to the backplane by this process.",
)
BACKPLANE_RECEIVED = Counter(
    "queueit_backplane_received",
    "Messages received from the backplane (from other processes).",
)
BACKPLANE_LAG_SECONDS = Histogram(
    "queueit_backplane_lag_seconds",
    "Time from publish on one process to receipt on another.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

# -- State and dependencies ------------------------------------------------------------------

ACTIVE_SESSIONS = Gauge(
    "queueit_active_sessions",
    "Parties not yet ended (a database count, refreshed at most every 15 s on scrape; every "
    "instance reports the same global number: aggregate with max, not sum).",
)
READY = Gauge(
    "queueit_ready",
    "1 while this instance can serve (database reachable), else 0; refreshed by /readyz and "
    "on scrape.",
)
DEPENDENCY_UP = Gauge(
    "queueit_dependency_up",
    "1 when a readiness check passes, 0 when it fails (database, redis, catalog, backplane).",
    ["check"],
)
TASK_RUNS = Counter(
    "queueit_task_runs",
    "Runs of periodic tasks by outcome (ok, skipped: another instance held the lock, error).",
    ["task", "outcome"],
)
SESSIONS_EXPIRED = Counter(
    "queueit_sessions_expired",
    "Parties ended by the idle sweep on this process.",
)
BUILD_INFO = Gauge("queueit_build_info", "The running version (always 1).", ["version"])
BUILD_INFO.labels(version=__version__).set(1)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


_REQUESTS_BY_LABELS: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str | None, route: str, status: int, seconds: float) -> None:
    """Record one finished HTTP request (the method is folded to a fixed set; children are
    cached, as in count_sent: the labels are low-cardinality and this runs per request)."""
    label = method if method in _METHODS else "OTHER"
    key = (label, route, status)
    child = _REQUESTS_BY_LABELS.get(key)
    if child is None:
        child = HTTP_REQUEST_SECONDS.labels(method=label, route=route, status=str(status))
        _REQUESTS_BY_LABELS[key] = child
    child.observe(seconds)


# -- Route templates -------------------------------------------------------------------------


_Index = dict[int, list[tuple[re.Pattern[str], str]]]


class _RouteTemplates:
    """The full path template of the route that served a request.

    This FastAPI version wraps included routers, so `scope["route"].path` of an API route is
    relative to its router (`/songs/{queued_song_id}/vote`, without `/api/v1`). The full
    template comes from `fastapi.routing.iter_route_contexts`, indexed once per router by the
    original route object. Older FastAPI versions copy routes with their full path, which is
    the fallback. A concrete path is never used: unmatched requests are 'unmatched'."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Keyed by id(router) (routers are unhashable); an entry goes when its router does.
        self._by_router: dict[int, _Index] = {}

    def template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        router = getattr(scope.get("app"), "router", None)
        if router is None:
            return _own_path(route)
        index = self._by_router.get(id(router))
        if index is None or id(route) not in index:
            with self._lock:
                if id(router) not in self._by_router:
                    weakref.finalize(router, self._by_router.pop, id(router), None)
                index = _index(router)
                # Remember a miss too: an unknown route costs one re-index, not one per request.
                index.setdefault(id(route), [])
                self._by_router[id(router)] = index
        candidates = index[id(route)]
        if len(candidates) == 1:
            return candidates[0][1]
        path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        for regex, template in candidates:
            if regex.match(path):
                return template
        return _own_path(route)


def _own_path(route: Any) -> str:
    """The route's own template (the full one where FastAPI copies routes with their path)."""
    return str(getattr(route, "path_format", None) or getattr(route, "path", "unmatched"))


def _index(router: Any) -> _Index:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - FastAPI without included-router wrapping
        return {}
    index: _Index = {}
    for context in iter_route_contexts(list(getattr(router, "routes", []))):
        template = context.path_format
        regex = getattr(context, "path_regex", None)
        if isinstance(template, str) and isinstance(regex, re.Pattern):
            index.setdefault(id(context.original_route), []).append((regex, template))
    return index


_templates = _RouteTemplates()


def route_template(scope: Scope) -> str:
    """The route template for metrics and logs (e.g. `/api/v1/songs/{queued_song_id}/vote`)."""
    return _templates.template(scope)


# -- Database pool ---------------------------------------------------------------------------


class PoolCollector(Collector):
    """Connection pool usage of the live engines of this process, read at scrape time."""

    def __init__(self) -> None:
        self._engines: dict[int, AsyncEngine] = {}
        self._lock = threading.Lock()

    def track(self, engine: AsyncEngine) -> None:
        with self._lock:
            self._engines[id(engine)] = engine

    def untrack(self, engine: AsyncEngine) -> None:
        with self._lock:
            self._engines.pop(id(engine), None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        checked_out = GaugeMetricFamily(
            "queueit_db_pool_checked_out",
            "Database connections checked out of the pool (in use).",
        )
        size = GaugeMetricFamily(
            "queueit_db_pool_size", "Configured size of the database connection pool."
        )
        overflow = GaugeMetricFamily(
            "queueit_db_pool_overflow",
            "Connections open beyond the pool size (negative: pool not yet filled).",
        )
        totals = {"checked_out": 0.0, "size": 0.0, "overflow": 0.0}
        with self._lock:
            engines = list(self._engines.values())
        for engine in engines:
            for key, value in _pool_numbers(engine.pool):
                totals[key] += value
        checked_out.add_metric([], totals["checked_out"])
        size.add_metric([], totals["size"])
        overflow.add_metric([], totals["overflow"])
        return [checked_out, size, overflow]


def _pool_numbers(pool: Any) -> Iterator[tuple[str, float]]:
    for key, method in (("checked_out", "checkedout"), ("size", "size"), ("overflow", "overflow")):
        reader = getattr(pool, method, None)
        if callable(reader):
            try:
                yield key, float(reader())
            except Exception:  # noqa: S112 - a pool without the number simply reports 0
                continue


POOL = PoolCollector()
REGISTRY.register(POOL)
