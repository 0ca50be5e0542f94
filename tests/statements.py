"""Counting the SQL statements one request costs (the statement-count tests): every statement
the app's engine sends, BEGIN and SQLite's PRAGMAs aside."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event


async def statements_for(
    app: FastAPI, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> tuple[int, httpx.Response]:
    """The statements `client.request(method, url, ...)` cost, and its response."""
    engine = app.state.ctx.database.engine.sync_engine
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    # The one-statement fast paths (party/read_model_caller.py, party/vote_fast_path.py)
    # send straight to asyncpg, past SQLAlchemy's hooks: counted where they send.
    state = app.state.ctx
    sends = [(state.fast_path, "_caller_row"), (state.vote_fast_path, "_cast")]
    originals = [getattr(owner, name) for owner, name in sends]

    def counted(send: Any) -> Any:
        async def sent(*args: Any) -> Any:
            seen.append("fast path")
            return await send(*args)

        return sent

    for (owner, name), send in zip(sends, originals, strict=True):
        setattr(owner, name, counted(send))
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = await client.request(method, url, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        for owner, name in sends:
            delattr(owner, name)
    return len(
        [s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "PRAGMA"))]
    ), response
