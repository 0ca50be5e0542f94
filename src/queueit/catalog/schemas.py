"""The Track shape (API.md §2): what searches return and what `songs/add` accepts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from queueit.core.text import RequiredTrackText, TrackText, clean_text

Source = Literal["spotify", "apple_music", "local"]


def _https_or_none(value: str | None) -> str | None:
    if not value:
        return None
    if not value.startswith("https://") or len(value) > 1000 or any(c.isspace() for c in value):
        raise ValueError("image_url must be an https URL (or empty)")
    return value


def _isrc(value: str) -> str:
    value = value.upper()
    if value and not (len(value) == 12 and value.isalnum()):
        raise ValueError("isrc must be 12 letters and digits (or empty)")
    return value


ProviderId = Annotated[str, BeforeValidator(clean_text), Field(min_length=1, max_length=200)]
Isrc = Annotated[str, BeforeValidator(clean_text), AfterValidator(_isrc)]
ImageUrl = Annotated[str | None, BeforeValidator(clean_text), AfterValidator(_https_or_none)]


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
    tracks: list[Track]
    source: Source | None = None
