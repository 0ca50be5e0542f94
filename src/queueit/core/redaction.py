"""The one redaction policy: what counts as a secret and how it is masked, for log lines
(core/logging.py) and Sentry events (core/sentry.py) alike.

A value is masked when its key sounds secret (Authorization, cookies, tokens, keys,
passwords, DSNs, signatures); inside free text, JWTs, bearer/basic credentials, secret
query parameters, `name='value'` reprs of secret fields and passwords in URLs are masked
wherever they appear."""

from __future__ import annotations

import re
from typing import Any

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
_REPR_SECRET = re.compile(
    r"(?i)(\b\w*(?:token|secret|password|api_key|private_key|dsn)\w*\s*[=:]\s*)(['\"])[^'\"]*\2"
)
_MAX_DEPTH = 20


def is_secret_key(key: object, value: object) -> bool:
    """A non-empty, non-numeric value under a secret-sounding key."""
    return (
        isinstance(key, str)
        and bool(_SECRET_KEY.search(key))
        and value not in (None, "", [], {})
        and not isinstance(value, bool | int | float)
    )


def scrub_text(value: str) -> str:
    """Mask secrets inside free text."""
    value = _JWT.sub(MASK, value)
    value = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", value)
    value = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, value)
    value = _REPR_SECRET.sub(lambda m: m.group(1) + m.group(2) + MASK + m.group(2), value)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(2), value)


def scrub(value: Any, depth: int = 0) -> Any:
    """A masked copy of a JSON-like structure (dicts, lists, [name, value] pairs, text)."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {
            key: (MASK if is_secret_key(key, item) else scrub(item, depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        # Header and query lists come as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and is_secret_key(value[0], value[1]):
            return [value[0], MASK]
        return [scrub(item, depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value
