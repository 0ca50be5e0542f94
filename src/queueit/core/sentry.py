"""Optional error and trace reporting to Sentry (only when SENTRY_DSN is set).

Every event passes through `scrub_event` before it leaves the process: the redaction policy
of core/redaction.py (the same one the logs use). The request id of the log lines is
attached as a tag so an event can be matched with the logs."""

from __future__ import annotations

import sys
from typing import Any

import structlog

from queueit import __version__
from queueit.core import redaction
from queueit.core.redaction import MASK, scrub_text
from queueit.core.settings import Settings

__all__ = ["MASK", "capture_exception", "flush", "init_sentry", "scrub_event", "scrub_text"]

log = structlog.get_logger(__name__)


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_send` / `before_send_transaction`: a scrubbed copy of the event, tagged with the
    request id bound to the current log context (when there is one)."""
    scrubbed: dict[str, Any] = redaction.scrub(event)
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        tags = scrubbed.get("tags")
        if not isinstance(tags, dict):
            tags = {}
        tags.setdefault("request_id", str(request_id))
        scrubbed["tags"] = tags
    return scrubbed


def init_sentry(settings: Settings) -> bool:
    """Start reporting when SENTRY_DSN is set; returns whether it was started."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment.value,
        release=f"queueit@{__version__}",
        traces_sample_rate=settings.sentry_traces_sample_rate,
        send_default_pii=False,
        max_request_body_size="never",
        # Frame locals would carry tokens and settings objects; tracebacks are enough.
        include_local_variables=False,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
    )
    log.info("sentry_enabled", traces_sample_rate=settings.sentry_traces_sample_rate)
    return True


def _active_sdk() -> Any:
    """The SDK when reporting is on, else None. Never imports it: `init_sentry` does when
    SENTRY_DSN is set, and importing it on a process's first 500 cost 0.2-0.6 s (measured)
    before that response could go out."""
    sdk = sys.modules.get("sentry_sdk")
    return sdk if sdk is not None and sdk.get_client().is_active() else None


def capture_exception(exc: BaseException) -> None:
    """Report an error that was handled (rendered as a 500, or caught by a periodic task);
    a no-op when Sentry is not configured."""
    sdk = _active_sdk()
    if sdk is not None:
        sdk.capture_exception(exc)


def flush(timeout: float = 2.0) -> None:
    """Send what is queued before the process exits (bounded)."""
    sdk = _active_sdk()
    if sdk is not None:
        sdk.flush(timeout=timeout)
