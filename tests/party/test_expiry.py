"""Idle expiry: idle parties end exactly once even with several instances sweeping at the
same moment, in batches, and only idle ones."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import select, text, update

from queueit.api.state import AppState
from queueit.core.events import DomainEvent
from queueit.core.types import utcnow
from queueit.main import create_app
from queueit.party import expiry
from queueit.party import repository as party_repository
from queueit.party.models import Party
from tests.conftest import make_settings
from tests.factories import make_host, make_user

API = "/api/v1"
Members = list[dict[str, str]]


async def _party(client: httpx.AsyncClient) -> tuple[uuid.UUID, Members]:
    host = await make_host(client)
    code = uuid.uuid4().hex[:8].upper()
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    guest = await make_user(client, anonymous=True)
    joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    return uuid.UUID(created.json()["session"]["id"]), [host, guest]


async def _sweep(state: AppState) -> str:
    return await expiry.sweep_idle_parties(
        state.database, idle_hours=state.settings.session_idle_hours
    )


async def _make_idle(state: AppState, session_ids: list[uuid.UUID]) -> None:
    idle_since = utcnow() - timedelta(hours=state.settings.session_idle_hours + 1)
    async with state.database.engine.begin() as conn:
        await conn.execute(
            update(Party).where(Party.id.in_(session_ids)).values(last_activity_at=idle_since)
        )


async def _ended(state: AppState) -> dict[uuid.UUID, str | None]:
    async with state.database.engine.connect() as conn:
        rows = await conn.execute(
            select(Party.id, Party.end_reason).where(Party.ended_at.is_not(None))
        )
        return {row.id: row.end_reason for row in rows}


def _listen(state: AppState, events: list[DomainEvent]) -> None:
    state.realtime.backplane.add_listener(lambda event, _ts: events.append(event))


async def _assert_members_see_404(client: httpx.AsyncClient, members: Members) -> None:
    for headers in members:
        response = await client.get(f"{API}/sessions/current", headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "no_active_session"


def _expired_total() -> float:
    return REGISTRY.get_sample_value("queueit_sessions_expired_total") or 0.0


@pytest.mark.postgres_only
async def test_two_runners_end_each_idle_session_exactly_once(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, app: FastAPI
) -> None:
    parties = [await _party(client) for _ in range(5)]
    idle, active = parties[:3], parties[3:]
    # Two more instances on the same database, sweeping every 50 ms.
    fast = make_settings(database_url, tmp_path / "data", session_sweep_seconds=0.05)
    first, second = create_app(fast), create_app(fast)
    events: list[DomainEvent] = []
    before = _expired_total()
    async with LifespanManager(first), LifespanManager(second):
        states = [first.state.ctx, second.state.ctx]
        for state in states:
            _listen(state, events)
        await _make_idle(states[0], [session_id for session_id, _ in idle])
        deadline = time.monotonic() + 15
        while len(await _ended(states[0])) < len(idle) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # several more sweeps by both runners: nothing more to end
    ended = await _ended(app.state.ctx)
    assert ended == {session_id: "idle" for session_id, _ in idle}
    ends = Counter(e.party_id for e in events if e.name == "session.ended")
    assert ends == Counter({session_id: 1 for session_id, _ in idle})
    assert _expired_total() == before + len(idle)
    for _, members in idle:
        await _assert_members_see_404(client, members)
    for _, members in active:
        for headers in members:
            assert (await client.get(f"{API}/sessions/current", headers=headers)).status_code == 200


@pytest.mark.postgres_only
async def test_concurrent_sweeps_take_turns(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, app: FastAPI
) -> None:
    parties = [await _party(client) for _ in range(4)]
    other = create_app(make_settings(database_url, tmp_path / "data"))
    events: list[DomainEvent] = []
    async with LifespanManager(other):
        states = [app.state.ctx, other.state.ctx]
        for state in states:
            _listen(state, events)
        await _make_idle(states[0], [session_id for session_id, _ in parties])
        outcomes = await asyncio.gather(*(_sweep(state) for state in states * 3))
    assert set(outcomes) <= {"ok", "skipped"}
    ends = Counter(e.party_id for e in events if e.name == "session.ended")
    assert ends == Counter({session_id: 1 for session_id, _ in parties})
    for _, members in parties:
        await _assert_members_see_404(client, members)


@pytest.mark.postgres_only
async def test_sweep_skips_while_another_instance_holds_the_lock(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    state: AppState = app.state.ctx
    session_id, members = await _party(client)
    await _make_idle(state, [session_id])
    async with state.database.engine.connect() as conn, conn.begin():
        held = await conn.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": expiry.SWEEP_LOCK_KEY}
        )
        assert held is True
        assert await _sweep(state) == "skipped"
        assert await _ended(state) == {}
    # The other instance's transaction ended: the next tick sweeps.
    assert await _sweep(state) == "ok"
    assert await _ended(state) == {session_id: "idle"}
    await _assert_members_see_404(client, members)


async def test_sweep_ends_only_idle_parties_in_batches(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: AppState = app.state.ctx
    parties = [await _party(client) for _ in range(5)]
    idle = parties[:4]
    await _make_idle(state, [session_id for session_id, _ in idle])
    # Batches of two: four idle parties take two full batches and one empty one.
    monkeypatch.setattr(expiry, "SWEEP_BATCH_SIZE", 2)
    original = party_repository.idle
    monkeypatch.setattr(party_repository, "idle", functools.partial(original, limit=2))
    before = _expired_total()
    assert await _sweep(state) == "ok"
    assert await _ended(state) == {session_id: "idle" for session_id, _ in idle}
    assert _expired_total() == before + 4
    for _, members in idle:
        await _assert_members_see_404(client, members)
    assert await _sweep(state) == "ok"  # nothing left: still fine
