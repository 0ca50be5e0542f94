"""Property-based (stateful) test: random add/vote/unvote/skip/finish/leave sequences keep the
party's invariants after every step, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import text

from queueit.main import create_app
from tests.conftest import PG_URL, make_settings, truncate_pg
from tests.factories import auth, token_for, track

API = "/api/v1"
USERS = 4  # user 0 hosts


def expected_order(rows: list[dict[str, Any]]) -> list[str]:
    """DOMAIN.md's rule, written independently of the SQL."""

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        tier_at = row["last_entered_tier_at"].timestamp()
        gain = bool(row["entered_tier_by_gain"])
        return (
            -row["votes"],
            gain,
            tier_at if gain else -tier_at,
            row["added_at"],
            str(row["id"]).replace("-", ""),
        )

    return [str(uuid.UUID(str(r["id"]))) for r in sorted(rows, key=key)]


class PartyMachine(RuleBasedStateMachine):
    database_url: str = ""
    template: Path | None = None
    workdir: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        url = self.database_url
        data_dir = Path(self.workdir or ".") / uuid.uuid4().hex
        if url.startswith("sqlite"):
            assert self.template is not None
            data_dir.mkdir(parents=True)
            shutil.copy(self.template, data_dir / "queueit.db")
            url = f"sqlite+aiosqlite:///{data_dir / 'queueit.db'}"
        else:
            await truncate_pg()
        self.app = create_app(make_settings(url, data_dir))
        self.lifespan = LifespanManager(self.app)
        await self.lifespan.__aenter__()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://test"
        )
        self.headers = [auth(token_for(is_anonymous=i > 0)) for i in range(USERS)]
        await self.client.patch(
            f"{API}/users/me", json={"music_provider": "spotify"}, headers=self.headers[0]
        )
        created = await self.client.post(
            f"{API}/sessions/create", json={"join_code": "PROP"}, headers=self.headers[0]
        )
        assert created.status_code == 200
        self.session_id = created.json()["session"]["id"]
        for h in self.headers[1:]:
            await self.client.post(f"{API}/sessions/join", json={"join_code": "PROP"}, headers=h)
        self.last_version = 0
        self.last_view: Any = None

    def teardown(self) -> None:
        async def stop() -> None:
            await self.client.aclose()
            await self.lifespan.__aexit__(None, None, None)

        self.loop.run_until_complete(stop())
        self.loop.close()

    def call(self, method: str, path: str, user: int, body: Any = None) -> httpx.Response:
        response = self.loop.run_until_complete(
            self.client.request(method, API + path, json=body, headers=self.headers[user])
        )
        assert response.status_code < 500, response.text
        return response

    def queued_ids(self) -> list[str]:
        body = self.call("GET", f"/sessions/{self.session_id}/queue?limit=500", 0).json()
        return [item["id"] for item in body["items"]]

    @rule(user=st.integers(0, USERS - 1), n=st.integers(0, 6))
    def add(self, user: int, n: int) -> None:
        self.call("POST", "/songs/add", user, track(n))

    @rule(user=st.integers(0, USERS - 1), pick=st.integers(0, 10), value=st.sampled_from([1, -1]))
    def vote(self, user: int, pick: int, value: int) -> None:
        ids = self.queued_ids()
        if ids:
            self.call("POST", f"/songs/{ids[pick % len(ids)]}/vote", user, {"vote_value": value})

    @rule(user=st.integers(0, USERS - 1), pick=st.integers(0, 10))
    def unvote(self, user: int, pick: int) -> None:
        ids = self.queued_ids()
        if ids:
            self.call("DELETE", f"/songs/{ids[pick % len(ids)]}/vote", user)

    @rule()
    def host_skip(self) -> None:
        self.call("PATCH", "/sessions/control_session", 0, {"skip_current_track": True})

    @rule(stale=st.booleans())
    def finish(self, stale: bool) -> None:
        current = self.call("GET", "/sessions/current", 0).json()["current_song"]
        song_id = str(uuid.uuid4()) if stale or current is None else current["id"]
        self.call("POST", "/sessions/song_finished", 0, {"queued_song_id": song_id})

    @rule(user=st.integers(1, USERS - 1))
    def request_skip(self, user: int) -> None:
        self.call("POST", "/sessions/request_skip", user)

    @rule(user=st.integers(1, USERS - 1))
    def leave_and_rejoin(self, user: int) -> None:
        self.call("POST", "/sessions/leave", user)
        self.call("POST", "/sessions/join", user, {"join_code": "PROP"})

    def rows(self, sql: str) -> list[dict[str, Any]]:
        async def fetch() -> list[dict[str, Any]]:
            async with self.app.state.ctx.database.engine.connect() as conn:
                result = await conn.execute(text(sql))
                return [dict(r._mapping) for r in result]

        return self.loop.run_until_complete(fetch())

    @invariant()
    def at_most_one_playing(self) -> None:
        rows = self.rows("SELECT count(*) AS n FROM queued_songs WHERE status = 'playing'")
        assert rows[0]["n"] <= 1

    @invariant()
    def totals_equal_the_sum_of_votes(self) -> None:
        rows = self.rows(
            "SELECT q.id, q.votes, COALESCE(SUM(v.value), 0) AS total FROM queued_songs q "
            "LEFT JOIN votes v ON v.queued_song_id = q.id WHERE q.status = 'queued' "
            "GROUP BY q.id, q.votes"
        )
        assert all(r["votes"] == r["total"] for r in rows), rows

    @invariant()
    def queue_order_follows_the_rule(self) -> None:
        from queueit.core.types import UTCDateTime

        decode = UTCDateTime().process_result_value
        rows = self.rows(
            "SELECT id, votes, entered_tier_by_gain, last_entered_tier_at, added_at "
            "FROM queued_songs WHERE status = 'queued'"
        )
        for row in rows:
            for column in ("last_entered_tier_at", "added_at"):
                value = row[column]
                if isinstance(value, str):
                    from datetime import datetime

                    value = datetime.fromisoformat(value)
                row[column] = decode(value, None)  # type: ignore[arg-type]
        assert self.queued_ids() == expected_order(rows)

    @invariant()
    def version_increases_with_every_change(self) -> None:
        body = self.call("GET", "/sessions/current", 0).json()
        version = body["session"]["version"]
        view = {
            k: v
            for k, v in body.items()
            if k not in ("session", "participant_count", "my_votes", "user_requested_skip")
        }
        view["flags"] = (body["session"]["is_locked"], body["session"]["is_paused"])
        assert version >= self.last_version
        if self.last_view is not None and view != self.last_view:
            assert version > self.last_version
        self.last_version, self.last_view = version, view


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~1 min on a quiet machine; the bound allows a loaded one
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_party_invariants(backend: str, sqlite_template: Path, tmp_path: Path) -> None:
    PartyMachine.database_url = PG_URL if backend == "postgresql" else "sqlite+aiosqlite://"
    PartyMachine.template = sqlite_template
    PartyMachine.workdir = tmp_path
    run_state_machine_as_test(
        PartyMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
