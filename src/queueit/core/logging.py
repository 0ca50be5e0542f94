"""structlog set-up: JSON in production, console in development, secrets masked."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from queueit.core import redaction
from queueit.core.settings import Settings


def mask_secret_values(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Never log a token or key (core/redaction.py: the policy Sentry events follow too)."""
    for key, value in list(event_dict.items()):
        if key == "event":
            continue
        if redaction.is_secret_key(key, value):
            event_dict[key] = redaction.MASK
        elif isinstance(value, str):
            event_dict[key] = redaction.scrub_text(value)
    return event_dict


class DenialNoise(logging.Filter):
    """uvicorn's websockets-sansio protocol (0.54) logs "ASGI callable returned without
    completing handshake." at ERROR after every handshake refused with a denial response
    (an HTTP 429 to a WebSocket upgrade; upstream: Kludex/uvicorn#3138). The realtime endpoint
    returns without a handshake only after sending one (every other path accepts or closes),
    so under a flood of refused sockets that line would be pure noise at ERROR level."""

    MESSAGE = "ASGI callable returned without completing handshake."

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.MESSAGE


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_secret_values,
    ]
    renderer: Any
    if settings.log_as_json:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # Plain tracebacks, without locals: structlog's default (rich, with every frame's
        # locals) took ~20 s to render a database error, and it runs before the 500 is sent.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Standard-library loggers (uvicorn, sqlalchemy) go through the same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.filters = [f for f in uvicorn_error.filters if not isinstance(f, DenialNoise)]
    uvicorn_error.addFilter(DenialNoise())
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    # Access lines are replaced by our own request_finished event. Without a handler to reach,
    # uvicorn skips the access line altogether (it builds its arguments on every request when
    # the logger has one, even a disabled logger).
    access = logging.getLogger("uvicorn.access")
    access.disabled = True
    access.handlers = []
    access.propagate = False
