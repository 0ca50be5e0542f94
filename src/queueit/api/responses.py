"""JSON documents serialised once, for the hot routes.

A route that returns a model makes FastAPI validate it against `response_model` again and
then serialise it; the snapshot is built from validated shapes already, so the validation is
pure cost (a third of its serialisation, docs/BENCHMARKS.md). `document` serialises the model
with the response model's own pydantic serialiser, exactly as FastAPI's fast path does (same
bytes), and the route keeps `response_model=` for the OpenAPI schema.

FastAPI passes a returned Response through untouched, so the headers the dependencies set on
the request's response (RateLimit-*) are copied onto it here, as FastAPI does for a model."""

from __future__ import annotations

from typing import Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

M = TypeVar("M", bound=BaseModel)


class Document(Generic[M]):
    """The response model of a hot route (one per model, built once at import)."""

    def __init__(self, model: type[M]) -> None:
        self._adapter = TypeAdapter(model)

    def response(self, value: M, headers_from: Response) -> Response:
        """`value` as `application/json`, serialised once, with `headers_from`'s headers."""
        return json_response(self._adapter.dump_json(value, by_alias=True), headers_from)


def json_response(body: bytes, headers_from: Response) -> Response:
    """`body` (JSON already) as `application/json`, with `headers_from`'s headers."""
    response = Response(body, media_type="application/json")
    # The raw header lists themselves (what `.headers.raw` returns, without building a
    # MutableHeaders view of each response first).
    response.raw_headers.extend(headers_from.raw_headers)
    return response
