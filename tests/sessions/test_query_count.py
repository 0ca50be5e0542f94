"""GET /sessions/current costs the same number of SQL statements for 5 or 500 songs."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from tests.factories import make_host, make_user, track

API = "/api/v1"


async def _statements_for_current(
    app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str]
) -> int:
    engine = app.state.ctx.engine.sync_engine
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = await client.get(f"{API}/sessions/current?queue_limit=500", headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len([s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "PRAGMA"))])


async def test_current_uses_a_constant_number_of_statements(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    counts = {}
    for size, code in ((5, "SMALL"), (500, "LARGE")):
        host = await make_host(client)
        await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
        guest = await make_user(client, anonymous=True)
        await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=guest)
        for n in range(size):
            await client.post(f"{API}/songs/add", json=track(f"{code}-{n}"), headers=host)
        # A vote on every song so my_votes is large too.
        body = (await client.get(f"{API}/sessions/current?queue_limit=500", headers=guest)).json()
        assert body["queue_total"] == size - 1
        for item in body["queue"][:50]:
            await client.post(
                f"{API}/songs/{item['id']}/vote", json={"vote_value": 1}, headers=guest
            )
        counts[size] = await _statements_for_current(app, client, guest)
    assert counts[5] == counts[500]
    assert counts[5] <= 10
