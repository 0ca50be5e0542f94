"""Input hygiene shared by every schema: reject control and invisible formatting characters,
trim surrounding spaces, NFC-normalise. The same character classes are published as
`pattern`s in the OpenAPI schema, so the documented rule and the enforced rule are one."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, WithJsonSchema

# C0 and C1 controls, DEL, zero-width space, bidi embeddings/overrides/isolates, invisible
# operators, BOM and interlinear annotations (ZWJ/ZWNJ stay: emoji and scripts need them).
FORBIDDEN = (
    "\\x00-\\x1f\\x7f-\\x9f\\u200b\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069"
    "\\ufeff\\ufff9-\\ufffb"
)
# Whitespace that is trimmed from both ends (Unicode spaces that are not forbidden above).
SPACE_CHARS = " \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
SPACE = f"[{SPACE_CHARS}]"
# Lone surrogates (possible through JSON escapes) are refused too; JSON Schema regexes cannot
# name them, so they are left out of the published pattern.
_FORBIDDEN_RE = re.compile(f"[{FORBIDDEN}\\ud800-\\udfff]")
SAFE_TEXT_PATTERN = f"^[^{FORBIDDEN}]*$"
# At least one character that survives trimming.
REQUIRED_TEXT_PATTERN = f"^[^{FORBIDDEN}]*[^{FORBIDDEN}{SPACE_CHARS}][^{FORBIDDEN}]*$"


def clean_text(value: object) -> object:
    if not isinstance(value, str):
        return value
    if _FORBIDDEN_RE.search(value):
        raise ValueError("control or invisible formatting characters are not allowed")
    return unicodedata.normalize("NFC", value.strip())


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def text_schema(max_length: int, *, pattern: str = SAFE_TEXT_PATTERN, **extra: Any) -> Any:
    return WithJsonSchema({"type": "string", "maxLength": max_length, "pattern": pattern, **extra})


def _max_length(limit: int) -> Any:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return AfterValidator(check)


CleanStr = Annotated[str, BeforeValidator(clean_text)]
TrackText = Annotated[str, BeforeValidator(clean_text), _max_length(500), text_schema(500)]
RequiredTrackText = Annotated[
    str,
    BeforeValidator(clean_text),
    _max_length(500),
    AfterValidator(_not_blank),
    text_schema(500, minLength=1, pattern=REQUIRED_TEXT_PATTERN),
]

STRICT_BODY = ConfigDict(extra="forbid", str_strip_whitespace=False)
