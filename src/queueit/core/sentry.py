"""Optional error and trace reporting to Sentry (only when SENTRY_DSN is set).

Every event passes through `scrub_event` before it leaves the process: values under
secret-sounding keys (Authorization, cookies, tokens, keys, passwords, DSNs) are masked,
`token=`-style query parameters and JWT-shaped text are masked wherever they appear, and
database URLs lose their passwords. The request id of the log lines is attached as a tag so
an event can be matched with the logs."""

from __future__ import annotations

import re
from typing import Any

import structlog

from queueit import __version__
from queueit.core.settings import Settings

log = structlog.get_logger(__name__)

MASK = "[Filtered]"
_SECRET_KEY = re.compile(
    r"(token|secret|passw|authorization|api[-_]?key|private[-_]?key|^key$|[-_]key$|dsn|"
    r"cookie|credential|signature|jwt)",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")
_QUERY_SECRET = re.compile(
    r"(?i)((?:^|[?&;])(?:[\w.-]*token|code|key|api_key|secret|password|signature|sig)=)[^&;#\s]*"
)
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(@)")
# `name='value'` inside reprs (e.g. a settings object in a message).
_REPR_SECRET = re.compile(
    r"(?i)(\b\w*(?:token|secret|password|api_key|private_key|dsn)\w*\s*[=:]\s*)(['\"])[^'\"]*\2"
)


def scrub_text(value: str) -> str:
    """Mask secrets inside free text: JWTs, bearer credentials, secret query parameters and
    passwords in URLs."""
    value = _JWT.sub(MASK, value)
    value = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", value)
    value = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, value)
    value = _REPR_SECRET.sub(lambda m: m.group(1) + m.group(2) + MASK + m.group(2), value)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(2), value)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {
            key: (MASK if _is_secret_key(key, item) else _scrub(item, depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        # Header and query lists come as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and _is_secret_key(value[0], value[1]):
            return [value[0], MASK]
        return [_scrub(item, depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _is_secret_key(key: object, value: object) -> bool:
    return (
        isinstance(key, str)
        and bool(_SECRET_KEY.search(key))
        and value not in (None, "", [], {})
        and not isinstance(value, bool | int | float)
    )


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_send` / `before_send_transaction`: a scrubbed copy of the event, tagged with the
    request id bound to the current log context (when there is one)."""
    scrubbed: dict[str, Any] = _scrub(event)
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


def capture_exception(exc: BaseException) -> None:
    """Report an error that was handled (rendered as a 500, or caught by a periodic task);
    a no-op when Sentry is not configured."""
    import sentry_sdk

    if sentry_sdk.get_client().is_active():
        sentry_sdk.capture_exception(exc)


def flush(timeout: float = 2.0) -> None:
    """Send what is queued before the process exits (bounded)."""
    import sentry_sdk

    if sentry_sdk.get_client().is_active():
        sentry_sdk.flush(timeout=timeout)
