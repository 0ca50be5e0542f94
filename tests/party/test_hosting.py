"""Join-code squatting (issue 16, item 3): one active party per account, and a per-account
limit on code reservations. The honest path: a host who opens a new party simply moves on."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import PG_URL, asyncpg_url
from tests.factories import make_host, make_user

API = "/api/v1"
SQUATTED = ("PARTY", "WEDDING", "BIRTHDAY", "XMAS", "NYE-2027")


async def _create(client: httpx.AsyncClient, host: dict[str, str], code: str) -> httpx.Response:
    return await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)


async def test_one_account_cannot_hold_several_codes(client: httpx.AsyncClient) -> None:
    squatter = await make_host(client)
    for code in SQUATTED:
        assert (await _create(client, squatter, code)).status_code == 200
    # Only the last code is held; a real host gets every other one.
    real = [await make_host(client) for _ in SQUATTED[:-1]]
    for host, code in zip(real, SQUATTED[:-1], strict=True):
        response = await _create(client, host, code)
        assert response.status_code == 200, response.text
        assert response.json()["session"]["host"]["id"] == host["X-Test-User"]
    taken = await _create(client, await make_host(client), SQUATTED[-1])
    assert taken.status_code == 409 and taken.json()["code"] == "join_code_taken"


async def test_opening_a_new_party_ends_the_old_one_for_its_guests(
    client: httpx.AsyncClient,
) -> None:
    host, guest = await make_host(client), await make_user(client, anonymous=True)
    assert (await _create(client, host, "FIRST")).status_code == 200
    joined = await client.post(f"{API}/sessions/join", json={"join_code": "FIRST"}, headers=guest)
    assert joined.status_code == 200
    second = await _create(client, host, "SECOND")
    assert second.status_code == 200 and second.json()["session"]["join_code"] == "SECOND"
    # The guest is released from the ended party (no one keeps a dead code alive).
    gone = await client.get(f"{API}/sessions/current", headers=guest)
    assert gone.status_code == 404 and gone.json()["code"] == "no_active_session"
    again = await client.post(f"{API}/sessions/join", json={"join_code": "FIRST"}, headers=guest)
    assert again.status_code == 404 and again.json()["code"] == "session_not_found"
    current = await client.get(f"{API}/sessions/current", headers=host)
    assert current.json()["session"]["join_code"] == "SECOND"


async def test_concurrent_double_create_leaves_one_active_party(
    client: httpx.AsyncClient, backend: str
) -> None:
    host = await make_host(client)
    responses = await asyncio.gather(*(_create(client, host, f"TWIN-{n}") for n in range(6)))
    statuses = [r.status_code for r in responses]
    assert 200 in statuses and set(statuses) <= {200, 409}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "already_hosting"
    current = await client.get(f"{API}/sessions/current", headers=host)
    assert current.status_code == 200
    open_codes = []
    for n in range(6):
        probe = await client.post(
            f"{API}/sessions/join", json={"join_code": f"TWIN-{n}"}, headers=await make_user(client)
        )
        if probe.status_code == 200:
            open_codes.append(f"TWIN-{n}")
    assert open_codes == [current.json()["session"]["join_code"]]
    if backend == "postgresql":
        engine = create_async_engine(asyncpg_url(PG_URL), poolclass=NullPool)
        async with engine.connect() as conn:
            active = await conn.scalar(
                text("SELECT count(*) FROM sessions WHERE host_id = :h AND ended_at IS NULL"),
                {"h": host["X-Test-User"]},
            )
        await engine.dispose()
        assert active == 1


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_enabled": True, "rate_limits": {"sessions_codes": "3/hour"}}],
)
async def test_code_reservations_are_limited_per_account(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    statuses = [(await _create(client, host, f"CODE-{n}")).status_code for n in range(3)]
    assert statuses == [200, 200, 200]
    refused = await _create(client, host, "CODE-9")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # Another account is not affected.
    assert (await _create(client, await make_host(client), "CODE-9")).status_code == 200
