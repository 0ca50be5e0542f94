"""Rate limits: per verified user, per IP otherwise, shared across instances through Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from queueit.core.middleware import client_ip
from queueit.core.ratelimit import Scope, effective_limits
from queueit.core.settings import Settings
from queueit.main import create_app
from tests.conftest import make_settings
from tests.factories import auth, make_host, make_user, token_for, track

API = "/api/v1"


@asynccontextmanager
async def _instance(
    database_url: str, data_dir: Path, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, data_dir, rate_limit_enabled=True, **overrides)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def limited(**limits: str) -> dict[str, Any]:
    """Settings with rate limits on and the given scopes' limits replaced. Windows of an hour
    make a test independent of how fast the machine sends its requests."""
    return {"rate_limit_enabled": True, "rate_limits": limits}


@pytest.mark.parametrize("settings_overrides", [limited(songs_vote="5/hour")])
async def test_votes_are_limited_per_user(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "LIMIT"}, headers=host)
    await client.post(f"{API}/songs/add", json=track(0), headers=host)
    song = (await client.post(f"{API}/songs/add", json=track(1), headers=host)).json()
    url = f"{API}/songs/{song['id']}/vote"
    statuses = []
    for n in range(6):
        response = await client.post(url, json={"vote_value": 1 if n % 2 else -1}, headers=host)
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert int(response.headers["RateLimit-Remaining"]) >= 0
    assert statuses == [200] * 5 + [429]
    body = response.json()
    assert body["code"] == "rate_limited" and body["request_id"]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["RateLimit-Limit"] == "5"
    assert response.headers["RateLimit-Remaining"] == "0"
    # Another user is not affected.
    other = await make_user(client, anonymous=True)
    await client.post(f"{API}/sessions/join", json={"join_code": "LIMIT"}, headers=other)
    assert (await client.post(url, json={"vote_value": 1}, headers=other)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [limited(auth_anonymous="2/hour")])
async def test_unauthenticated_calls_are_limited_per_ip(client: httpx.AsyncClient) -> None:
    statuses = [(await client.post(f"{API}/auth/anonymous", json={})).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # Bad tokens are limited by IP too, and still answered 401 while under the limit.
    bad = await client.get(f"{API}/users/me", headers=auth("not-a-token"))
    assert bad.status_code == 401


@pytest.mark.parametrize("settings_overrides", [limited(sessions_join_ip="10/hour")])
async def test_join_attempts_are_limited_per_ip(client: httpx.AsyncClient) -> None:
    # Guessing codes with many fresh accounts from one address still hits the IP limit.
    statuses = []
    for _ in range(12):
        response = await client.post(
            f"{API}/sessions/join",
            json={"join_code": "GUESS"},
            headers=auth(token_for(is_anonymous=True)),
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [404] * 10
    assert statuses[10:] == [429, 429]


async def test_two_instances_share_one_limit_through_redis(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    headers = auth(token_for(uuid.uuid4()))
    limits = {"sessions_join": "5/hour"}
    async with (
        _instance(database_url, tmp_path / "a", redis_url=redis_url, rate_limits=limits) as a,
        _instance(database_url, tmp_path / "b", redis_url=redis_url, rate_limits=limits) as b,
    ):
        statuses = [
            (
                await (a if n % 2 else b).post(
                    f"{API}/sessions/join", json={"join_code": "NOPE"}, headers=headers
                )
            ).status_code
            for n in range(6)
        ]
    assert statuses == [404] * 5 + [429]


async def test_without_redis_each_instance_counts_alone(database_url: str, tmp_path: Path) -> None:
    headers = auth(token_for(uuid.uuid4()))
    limits = {"sessions_join": "5/hour"}
    async with (
        _instance(database_url, tmp_path / "a", rate_limits=limits) as a,
        _instance(database_url, tmp_path / "b", rate_limits=limits) as b,
    ):
        statuses = [
            (
                await (a if n % 2 else b).post(
                    f"{API}/sessions/join", json={"join_code": "NOPE"}, headers=headers
                )
            ).status_code
            for n in range(6)
        ]
    assert 429 not in statuses  # 3 per instance: documented reason to configure REDIS_URL


async def test_disabled_limits_never_refuse(client: httpx.AsyncClient) -> None:
    statuses = {(await client.post(f"{API}/auth/anonymous", json={})).status_code for _ in range(5)}
    assert statuses == {200}


def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies() -> None:
    scope = {"client": ("10.0.0.5", 1), "headers": [(b"x-forwarded-for", b"1.2.3.4, 10.0.0.9")]}
    assert client_ip(scope, []) == "10.0.0.5"
    assert client_ip(scope, ["10.0.0.0/8"]) == "1.2.3.4"
    assert client_ip(scope, ["192.168.0.0/16"]) == "10.0.0.5"
    spoofed = {"client": ("10.0.0.5", 1), "headers": [(b"x-forwarded-for", b"garbage")]}
    assert client_ip(spoofed, ["10.0.0.0/8"]) == "garbage"


def test_rate_limits_setting_replaces_the_limits_of_named_scopes() -> None:
    settings = Settings(
        _env_file=None, rate_limits="songs_vote=120/minute;10/second, search=40/minute"
    )
    assert settings.rate_limits == {"songs_vote": "120/minute;10/second", "search": "40/minute"}
    limits = effective_limits(settings.rate_limits)
    assert [(i.amount, i.get_expiry()) for i in limits[Scope.SONGS_VOTE]] == [(120, 60), (10, 1)]
    assert [(i.amount, i.get_expiry()) for i in limits[Scope.SEARCH]] == [(40, 60)]
    assert [i.amount for i in limits[Scope.SONGS_ADD]] == [30, 5]  # the built-in limit


def test_a_misspelt_scope_or_an_unreadable_limit_stops_the_start() -> None:
    with pytest.raises(ValueError, match="unknown scope 'songs_votes'"):
        effective_limits({"songs_votes": "1/hour"})
    with pytest.raises(ValueError, match="search='lots' is not a limit"):
        effective_limits({"search": "lots"})
    with pytest.raises(ValueError, match="scope=limit"):
        Settings(_env_file=None, rate_limits="search")
