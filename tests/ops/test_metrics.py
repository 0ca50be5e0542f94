"""/metrics: route templates (never concrete ids), the series operators alert on, and the
METRICS_ENABLED / METRICS_PORT switches."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY

from queueit.core import metrics
from queueit.main import create_app
from tests.conftest import make_settings
from tests.factories import auth, make_host, make_user, token_for, track
from tests.ops.procs import free_port

API = "/api/v1"
VOTE_ROUTE = "/api/v1/songs/{queued_song_id}/vote"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def request_count(route: str, status: str, method: str = "POST") -> float:
    return sample(
        "queueit_http_request_duration_seconds_count", method=method, route=route, status=status
    )


async def _party(client: httpx.AsyncClient, code: str) -> tuple[dict[str, str], str]:
    """A party with a queued song; returns a guest's headers and the queued song's id."""
    host = await make_host(client)
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    guest = await make_user(client, anonymous=True)
    joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    for n in range(3):
        added = await client.post(f"{API}/songs/add", json=track(f"{code}-{n}"), headers=host)
        assert added.status_code == 200, added.text
    current = (await client.get(f"{API}/sessions/current", headers=guest)).json()
    return guest, current["queue"][0]["id"]


async def test_requests_are_labelled_by_route_template(
    client: httpx.AsyncClient, unique: str
) -> None:
    guest, song_id = await _party(client, f"M{unique[:6].upper()}")
    before = request_count(VOTE_ROUTE, "200")
    vote = await client.post(f"{API}/songs/{song_id}/vote", json={"vote_value": 1}, headers=guest)
    assert vote.status_code == 200
    # Upper-case ids (as the iOS app sends them) land on the same series.
    upper = song_id.upper()
    again = await client.post(f"{API}/songs/{upper}/vote", json={"vote_value": -1}, headers=guest)
    assert again.status_code == 200
    assert request_count(VOTE_ROUTE, "200") == before + 2

    unmatched = request_count("unmatched", "404", method="GET")
    assert (await client.get(f"{API}/no/such/{song_id}")).status_code == 404
    assert request_count("unmatched", "404", method="GET") == unmatched + 1

    body = (await client.get("/metrics")).text
    assert f'route="{VOTE_ROUTE}"' in body
    assert 'route="/api/v1/sessions/current"' in body
    # Labels never carry ids: the song id appears nowhere in the exposition.
    assert song_id not in body and upper not in body
    for line in body.splitlines():
        if line.startswith("queueit_"):
            assert not UUID_RE.search(line.split(" ")[0]), line


async def test_odd_methods_are_folded(client: httpx.AsyncClient) -> None:
    before = request_count("/healthz", "405", method="OTHER")
    response = await client.request("BREW", "/healthz")
    assert response.status_code == 405
    assert request_count("/healthz", "405", method="OTHER") == before + 1


async def test_in_flight_gauge_counts_a_request_being_served(client: httpx.AsyncClient) -> None:
    baseline = sample("queueit_http_requests_in_flight")
    seen: list[float] = []

    async def body() -> AsyncIterator[bytes]:
        # The app is reading this body: the request is in flight.
        seen.append(sample("queueit_http_requests_in_flight"))
        yield b'{"storefront": "us"}'

    response = await client.patch(
        f"{API}/users/me",
        content=body(),
        headers={**auth(token_for()), "content-type": "application/json"},
    )
    assert response.status_code == 200
    assert seen and seen[0] >= baseline + 1
    assert sample("queueit_http_requests_in_flight") == baseline


async def test_exposition_has_the_operational_series(
    client: httpx.AsyncClient, unique: str
) -> None:
    import queueit.catalog.metrics  # noqa: F401 - registered on import, like in the app

    await _party(client, f"S{unique[:6].upper()}")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    for name in (
        "queueit_http_request_duration_seconds_bucket",
        "queueit_http_requests_in_flight",
        "queueit_db_pool_checked_out",
        "queueit_db_pool_size",
        "queueit_ready 1.0",
        'queueit_dependency_up{check="database"} 1.0',
        "queueit_build_info",
        # Defined here, incremented by the rate limiter, the hub and the backplane.
        "# HELP queueit_rate_limited",
        "queueit_ws_connections",
        "# HELP queueit_ws_messages_sent",
        "# HELP queueit_ws_messages_dropped",
        "queueit_backplane_published_total",
        "queueit_backplane_received_total",
        "queueit_backplane_lag_seconds_bucket",
        # The catalog's own metrics come through the same default registry.
        "# HELP queueit_catalog_provider_calls",
    ):
        assert name in body, name
    # The active-session count is read from the database at scrape time.
    assert sample("queueit_active_sessions") >= 1


async def test_pool_gauge_sees_checked_out_connections(app: object) -> None:
    engine = app.state.ctx.database.engine  # type: ignore[attr-defined]
    baseline = sample("queueit_db_pool_checked_out")
    async with engine.connect():
        assert sample("queueit_db_pool_checked_out") == baseline + 1
    assert sample("queueit_db_pool_checked_out") == baseline


def test_rate_limited_counter_takes_a_scope() -> None:
    before = sample("queueit_rate_limited_total", scope="ops-test")
    metrics.RATE_LIMITED.labels(scope="ops-test").inc()
    assert sample("queueit_rate_limited_total", scope="ops-test") == before + 1


@pytest.mark.parametrize("settings_overrides", [{"metrics_enabled": False}])
async def test_metrics_can_be_turned_off(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_metrics_port_serves_metrics_apart(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    settings = make_settings(database_url, tmp_path / "data", metrics_port=port)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/metrics")).status_code == 404
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as scraper:
            response = await scraper.get("/metrics")
            assert response.status_code == 200
            assert "queueit_http_requests_in_flight" in response.text
            assert (await scraper.get("/other")).status_code == 404
            assert (await scraper.post("/metrics")).status_code == 404
        # Garbage and silence are answered or dropped without disturbing the server.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.0 400")
        writer.close()
        await writer.wait_closed()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_taken_metrics_port_does_not_stop_the_app(
    tmp_path: Path, database_url: str
) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        settings = make_settings(database_url, tmp_path / "data", metrics_port=port)
        app = create_app(settings)
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert (await client.get("/healthz")).status_code == 200
    finally:
        blocker.close()
        await blocker.wait_closed()


async def test_a_router_included_twice_keeps_each_prefix() -> None:
    from fastapi import APIRouter, FastAPI
    from starlette.types import Receive, Scope, Send

    inner = APIRouter()

    @inner.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    app = FastAPI()
    app.include_router(inner, prefix="/a")
    app.include_router(inner, prefix="/b/{tenant}")
    seen: list[str] = []

    def probe(asgi: object) -> object:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            await asgi(scope, receive, send)  # type: ignore[operator]
            seen.append(metrics.route_template(scope))

        return wrapped

    app.add_middleware(lambda asgi: probe(asgi))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/a/items/1")).status_code == 200
        assert (await client.get("/b/acme/items/2")).status_code == 200
        assert (await client.get("/c")).status_code == 404
    assert seen == ["/a/items/{item_id}", "/b/{tenant}/items/{item_id}", "unmatched"]
