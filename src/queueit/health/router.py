"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from queueit.api.deps import State
from queueit.core.errors import NotFound
from queueit.health import exposition, service

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
        503: {
            "description": "The database is unreachable (`down`, `timeout`) or not at this "
            "server's migration head (`schema_behind`, `schema_ahead`: run `queueit migrate`): "
            "this instance cannot serve."
        },
    },
)
async def readyz(state: State) -> JSONResponse:
    """Checks the database (503 when down or not migrated to this version), Redis and the
    catalog circuit (200 `degraded` when down), each with a short timeout."""
    ok, body = await service.readiness(state)
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."},
        404: {"description": "Metrics are off (METRICS_ENABLED=false) or on METRICS_PORT."},
    },
)
async def metrics(state: State) -> Response:
    """This process's metrics in the Prometheus text format (docs/OPERATIONS.md lists them).
    404 when METRICS_ENABLED is false, or when METRICS_PORT serves them on a separate port."""
    settings = state.settings
    if not settings.metrics_enabled or settings.metrics_port:
        raise NotFound("Metrics are not served here.")
    return Response(await exposition.render(state), media_type=CONTENT_TYPE_LATEST)
