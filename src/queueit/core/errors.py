"""Domain errors carrying their HTTP status and machine code, and the one envelope renderer."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class AppError(Exception):
    """Base of every expected failure; the handler renders it as the error envelope."""

    status_code: int = 400
    code: str = "bad_request"
    detail: str = "Bad request."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.detail
        self.headers = headers or {}
        super().__init__(self.detail)


class BadRequest(AppError):
    status_code, code, detail = 400, "bad_request", "Bad request."


class Unauthorized(AppError):
    status_code, code, detail = 401, "token_invalid", "The access token is not valid."


class TokenMissing(Unauthorized):
    code, detail = "token_missing", "An access token is required (Authorization: Bearer ...)."


class TokenExpired(Unauthorized):
    code, detail = "token_expired", "The access token has expired."


class AccountDeleted(Unauthorized):
    code, detail = "account_deleted", "This account was deleted."


class Forbidden(AppError):
    status_code, code, detail = 403, "forbidden", "You are not allowed to do this."


class NotFound(AppError):
    status_code, code, detail = 404, "not_found", "Not found."


class Conflict(AppError):
    status_code, code, detail = 409, "conflict", "Conflict."


class PayloadTooLarge(AppError):
    status_code, code, detail = 413, "payload_too_large", "The request body is too large."


class Unprocessable(AppError):
    status_code, code, detail = 422, "unprocessable", "The request cannot be processed."


class RateLimited(AppError):
    status_code, code, detail = 429, "rate_limited", "Too many requests; slow down."


class ServiceUnavailable(AppError):
    status_code, code, detail = 503, "service_unavailable", "A dependency is unavailable."


class DatabaseUnavailable(ServiceUnavailable):
    code, detail = "database_unavailable", "The database is unavailable; try again shortly."


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def envelope(
    request: Request,
    status_code: int,
    code: str,
    detail: Any,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"detail": detail, "code": code, "request_id": request_id_of(request)}
    return JSONResponse(body, status_code=status_code, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "token_invalid",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return envelope(request, exc.status_code, exc.code, exc.detail, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "HTTP error."
    headers = dict(exc.headers or {})
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        # An unreadable body is a validation failure like malformed JSON: one code for both.
        issue = {
            "loc": ["body"],
            "msg": "The request body could not be parsed.",
            "type": "body_unparsable",
        }
        return envelope(request, 422, "validation_error", [issue])
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such route."
    if exc.status_code == 405:
        detail = "This route does not accept that method."
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return envelope(request, exc.status_code, code, detail, headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route of this path accepts (Starlette reports only the first match)."""
    from starlette.routing import compile_path

    app = request.app
    table: list[tuple[Any, list[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            # Path ids are UUIDs (routes use the `uuid` convertor): "/songs/add" is not an id.
            for operation in operations.values():
                for param in operation.get("parameters", []):
                    is_uuid = param.get("schema", {}).get("format") == "uuid"
                    if param.get("in") == "path" and is_uuid:
                        name = param["name"]
                        template = template.replace(f"{{{name}}}", f"{{{name}:uuid}}")
            regex, _, _ = compile_path(template)
            table.append((regex, sorted(m.upper() for m in operations)))
        app.state.allow_table = table
    methods = {m for regex, allowed in table if regex.match(request.url.path) for m in allowed}
    return sorted(methods) or ["GET"]


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    cleaned: list[dict[str, Any]] = []
    for err in errors:
        item = {
            "loc": list(err.get("loc", ())),
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        cleaned.append(item)
    return cleaned


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return envelope(request, 422, "validation_error", _jsonable_errors(exc.errors()))


async def render_unexpected(request: Request, exc: Exception) -> JSONResponse:
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    down = OperationalError | DBAPIError | PoolTimeout | OSError | TimeoutError
    if isinstance(exc, down) and _is_db_down(exc):
        log.warning("database_unavailable", error=type(exc).__name__)
        err = DatabaseUnavailable()
        return envelope(request, err.status_code, err.code, err.detail, {"Retry-After": "2"})
    log.exception("unhandled_error", error=type(exc).__name__)
    return envelope(request, 500, "internal_error", "Something went wrong on our side.")


# SQLSTATEs of a database that cannot serve right now: connection exceptions (class 08),
# shutting down or starting up (57P01-57P03), too many connections (53300).
_DB_DOWN_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def _is_db_down(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
        return (
            bool(exc.connection_invalidated)
            or sqlstate.startswith(_DB_DOWN_SQLSTATES)
            or "connect" in str(exc.orig).lower()
        )
    # A pool timeout (every connection busy for DATABASE_TIMEOUT_SECONDS), a socket error or
    # a timeout: the database cannot serve this request now.
    return True


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, render_unexpected)
