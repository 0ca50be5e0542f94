"""The Track shape (API.md §2): what searches return and what `songs/add` accepts."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from queueit.core.text import (
    FORBIDDEN,
    REQUIRED_TEXT_PATTERN,
    SPACE,
    RequiredTrackText,
    TrackText,
    clean_text,
    text_schema,
)

Source = Literal["spotify", "apple_music", "local"]


_URL_RE = re.compile(r"^https://[^\s]{1,992}$")
_ISRC_RE = re.compile(r"^[A-Z0-9]{12}$")


def _https_or_none(value: str | None) -> str | None:
    if not value:
        return None
    if not _URL_RE.match(value):
        raise ValueError("image_url must be an https URL of at most 1000 characters (or empty)")
    return value


def _isrc(value: str) -> str:
    value = value.upper()
    if value and not _ISRC_RE.match(value):
        raise ValueError("isrc must be 12 letters and digits (or empty)")
    return value


def _max_200(value: str) -> str:
    if not value or len(value) > 200:
        raise ValueError("id must be 1-200 characters")
    return value


ProviderId = Annotated[
    str,
    BeforeValidator(clean_text),
    AfterValidator(_max_200),
    text_schema(200, minLength=1, pattern=REQUIRED_TEXT_PATTERN),
]
Isrc = Annotated[
    str,
    BeforeValidator(clean_text),
    AfterValidator(_isrc),
    text_schema(20, pattern=f"^{SPACE}*([A-Za-z0-9]{{12}})?{SPACE}*$"),
]
ImageUrl = Annotated[
    str | None,
    BeforeValidator(clean_text),
    AfterValidator(_https_or_none),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "pattern": f"^{SPACE}*(https://[^\\s{FORBIDDEN}]{{1,992}})?{SPACE}*$",
                },
                {"type": "null"},
            ]
        }
    ),
]


class Track(BaseModel):
    """A catalog track. `id` is the provider's track id; `artists` are joined with ` & `."""

    model_config = ConfigDict(extra="forbid")

    id: ProviderId = Field(examples=["4uLU6hMCjMI75M1A2tKUQC"])
    isrc: Isrc = Field(default="", examples=["GBARL9300135"])
    name: RequiredTrackText = Field(examples=["Never Gonna Give You Up"])
    artists: RequiredTrackText = Field(examples=["Rick Astley"])
    album: TrackText = Field(default="", examples=["Whenever You Need Somebody"])
    duration_ms: int = Field(ge=0, le=3_600_000, examples=[213573])
    image_url: ImageUrl = Field(default=None, examples=["https://i.scdn.co/image/ab67616d0000b273"])
    source: Source = Field(examples=["spotify"])
    explicit: bool | None = Field(default=None, examples=[False])


class SearchResults(BaseModel):
    """A catalog search: the tracks and the catalog they came from (the routes answer them
    marked for the caller's party, party/schemas.py MarkedSearchResults)."""

    tracks: list[Track]
    source: Source | None = None


def track_of(song: Any) -> Track:
    """A stored song (the songs table's row, or a query row with its columns) as a Track:
    what the server verified, never re-validated."""
    return Track.model_construct(
        id=song.provider_id,
        isrc=song.isrc,
        name=song.name,
        artists=song.artists,
        album=song.album,
        duration_ms=song.duration_ms,
        image_url=song.image_url,
        source=cast(Source, song.source),
        explicit=song.explicit,
    )
