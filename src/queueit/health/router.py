"""/healthz and /readyz."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from queueit.core.deps import State
from queueit.health import service

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Liveness",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> dict[str, str]:
    """The process is alive. Does no I/O."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "ok",
                        "checks": {
                            "database": "ok",
                            "redis": "disabled",
                            "catalog": "ok",
                            "backplane": "ok",
                        },
                    }
                }
            }
        },
        503: {"description": "The database is unreachable: this instance cannot serve."},
    },
)
async def readyz(state: State) -> JSONResponse:
    """Checks the database (503 when down), Redis and the catalog circuit (200 `degraded` when
    down), each with a short timeout."""
    ok, body = await service.readiness(state)
    return JSONResponse(body, status_code=200 if ok else 503)
