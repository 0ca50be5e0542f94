"""Benchmark-only routes, mounted only with BENCH_ENDPOINTS=true (refused in production) and
left out of the OpenAPI schema.

`GET /bench/current` answers with the document that `GET /api/v1/sessions/current` gave the
benchmark's member, kept in memory: the same server, workers, middleware, routing and
response as the real route on a read-model hit (`party/read_model.py`: the party's document
serialised once, the member's `my_votes`, `user_requested_skip` and `my_role` spliced in
on every request), without the token check, the database or building the snapshot. Its request rate
is the ceiling the real route is compared with (bench/README.md). The benchmark writes the
document to `DATA_DIR/bench-current.json` before the first request; each worker process
reads it once.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from queueit.api.responses import json_response
from queueit.api.state import AppState
from queueit.core.routing import PrefixRouter
from queueit.core.settings import Settings
from queueit.party import read_model
from queueit.party.schemas import CurrentSessionOut

PAYLOAD_FILE = "bench-current.json"

router = PrefixRouter(include_in_schema=False)


def _load(settings: Settings) -> CurrentSessionOut:
    return CurrentSessionOut.model_validate_json((settings.data_dir / PAYLOAD_FILE).read_bytes())


@router.get("/bench/current", response_model=CurrentSessionOut)
async def bare_current(request: Request, response: Response) -> Response:
    """The benchmark member's CurrentSession, from memory, answered as the real route answers
    a read-model hit. The app state is read from the request, not through the `State`
    dependency: what is measured is the stack and the answer, not a route's own dependencies
    (the real route's are its token check and database)."""
    state: AppState = request.app.state.ctx
    if state.bench_current is None:
        state.bench_current = _load(state.settings)
        state.bench_entry = read_model.entry_of(state.bench_current, built_at=0.0)
    document, entry = state.bench_current, state.bench_entry
    assert entry is not None
    body = entry.render(
        my_votes=document.my_votes,
        requested_skip=document.user_requested_skip,
        role=document.my_role,
    )
    return json_response(body, headers_from=response)


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the benchmark routes when BENCH_ENDPOINTS is set (never in production)."""
    if settings.bench_endpoints:
        router.include_in(app)
