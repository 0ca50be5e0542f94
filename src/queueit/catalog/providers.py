"""The provider interface every catalog implements, and helpers shared by the mappers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog
from pydantic import ValidationError

from queueit.catalog.artwork import allowed_artwork
from queueit.catalog.schemas import Source, Track

log = structlog.get_logger(__name__)

AlbumType = Literal["album", "single", "compilation"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A track plus the album facts cross-catalog matching prefers on (not part of `Track`)."""

    track: Track
    album_type: AlbumType | None = None
    is_compilation: bool = False


class CatalogProvider(Protocol):
    """`market` is the user's or host's storefront (two lower-case letters, e.g. `us`)."""

    @property
    def source(self) -> Source: ...

    async def search(self, query: str, *, limit: int, market: str) -> list[Track]: ...

    async def get_track(self, track_id: str, *, market: str) -> Track | None: ...

    async def get_tracks(self, track_ids: list[str], *, market: str) -> list[Track]:
        """The tracks of `track_ids` the catalog knows (batched where the API allows);
        unknown ids are simply missing from the result."""
        ...

    async def find_by_isrc(self, isrc: str, *, market: str) -> list[Candidate]: ...

    def health(self) -> str: ...


def build_track(source: Source, fields: dict[str, Any]) -> Track | None:
    """A validated Track, or None (logged) when the provider's item is incomplete or odd.
    Artwork off the provider's own image hosts is dropped (catalog/artwork.py)."""
    if source != "local":
        image = fields.get("image_url")
        fields = {**fields, "image_url": allowed_artwork(source, image) if image else None}
    try:
        return Track.model_validate({**fields, "source": source})
    except ValidationError as exc:
        log.info(
            "catalog_item_skipped",
            source=source,
            problems=[".".join(str(p) for p in err["loc"]) for err in exc.errors()],
        )
        return None


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def int_or_none(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
