"""OpenAPI helpers: the error envelope declared on every route that can return it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorEnvelope(BaseModel):
    detail: Any = Field(description="Human-readable message (a list of issues for 422).")
    code: str = Field(description="Machine-readable snake_case code.", examples=["not_found"])
    request_id: str = Field(description="The X-Request-ID of the request.")


_DESCRIPTIONS = {
    400: "Bad state for this request",
    401: "Missing, malformed, expired or wrongly signed token",
    403: "Not allowed (not the host, a guest trying to host, not a member)",
    404: "Not found, or no active session",
    409: "Conflict (join code taken, session locked, song not votable)",
    413: "Request body too large",
    422: "Validation error",
    429: "Rate limited (see Retry-After)",
    503: "A dependency is unavailable",
}


def errors_for(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[code]} for code in codes}
