"""Input hygiene shared by every schema: strip, NFC-normalise, reject control characters."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, StringConstraints


def clean_text(value: object) -> object:
    if not isinstance(value, str):
        return value
    value = unicodedata.normalize("NFC", value.strip())
    if any(
        unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in "\u200d" for ch in value
    ):
        raise ValueError("control or invisible formatting characters are not allowed")
    return value


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


CleanStr = Annotated[str, BeforeValidator(clean_text)]
TrackText = Annotated[str, BeforeValidator(clean_text), StringConstraints(max_length=500)]
RequiredTrackText = Annotated[TrackText, AfterValidator(_not_blank)]

STRICT_BODY = ConfigDict(extra="forbid", str_strip_whitespace=False)
