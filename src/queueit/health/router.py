"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from queueit.api.deps import State
from queueit.core.errors import NotFound, Unauthorized
from queueit.core.routing import PrefixRouter
from queueit.core.settings import Environment
from queueit.health import exposition, service

router = PrefixRouter(tags=["health"])


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
        401: {"description": "METRICS_TOKEN is set and the bearer token is missing or wrong."},
        404: {
            "description": "Metrics are off (METRICS_ENABLED=false), on METRICS_PORT, or in "
            "production without METRICS_TOKEN."
        },
    },
)
async def metrics(request: Request, state: State) -> Response:
    """This process's metrics in the Prometheus text format (docs/OPERATIONS.md lists them).
    With METRICS_TOKEN set, only for `Authorization: Bearer METRICS_TOKEN` (401 otherwise).
    404 when METRICS_ENABLED is false, when METRICS_PORT serves them on a separate port, or
    in production when METRICS_TOKEN is unset (never public there)."""
    settings = state.settings
    if not settings.metrics_enabled or settings.metrics_port:
        raise NotFound("Metrics are not served here.")
    if settings.metrics_token:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {settings.metrics_token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("Metrics need the METRICS_TOKEN bearer token.")
    elif settings.environment == Environment.production:
        raise NotFound("Metrics are not served here.")
    return Response(await exposition.render(state), media_type=CONTENT_TYPE_LATEST)
