"""A plain FastAPI app: the yardstick of issue 17's middleware target. It answers
`GET /bench/current` with the bytes of the file named by BENCH_PLAIN_BODY (the document
`GET /api/v1/sessions/current` gave the benchmark's member), read once and kept in memory:
no middleware, no dependencies, no response model, no serialiser. Started by
`bench.harness.PlainApp` as its own uvicorn process (same event loop and HTTP parser as
`queueit serve`), so the only difference from the bare route is QueueIT's stack."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@cache
def _body() -> bytes:
    return Path(os.environ["BENCH_PLAIN_BODY"]).read_bytes()


@app.get("/bench/current")
async def current() -> Response:
    return Response(_body(), media_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
