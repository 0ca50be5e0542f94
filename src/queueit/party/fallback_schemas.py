"""The bodies and shapes of `/sessions/current/fallback` (docs/API.md §3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from queueit.catalog.schemas import ProviderId, Source, Track
from queueit.core.text import STRICT_BODY, RequiredShortText

MAX_FALLBACK_TRACKS = 500  # a source is cut off here (a playlist, the id list)


class FallbackKind(StrEnum):
    tracks = "tracks"
    playlist = "playlist"
    catalog = "catalog"


class TrackRef(BaseModel):
    model_config = STRICT_BODY

    source: Source = Field(examples=["local"])
    id: ProviderId = Field(examples=["demo-001"])


class FallbackTracksIn(BaseModel):
    """Catalog track ids, played in this order."""

    model_config = STRICT_BODY

    kind: Literal["tracks"]
    tracks: list[TrackRef] = Field(min_length=1, max_length=MAX_FALLBACK_TRACKS)


PlaylistId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9.\-_]{1,100}$", min_length=1, max_length=100)
]


class FallbackPlaylistIn(BaseModel):
    """A provider playlist the server reads (its first 500 tracks)."""

    model_config = STRICT_BODY

    kind: Literal["playlist"]
    source: Literal["spotify", "apple_music"]
    playlist_id: PlaylistId = Field(examples=["37i9dQZF1DXcBWIGoYBM5M", "pl.u-8aAVZAaIkUNdbG"])


class FallbackCatalogIn(BaseModel):
    """The local catalog's best matches for some artist or genre words."""

    model_config = STRICT_BODY

    kind: Literal["catalog"]
    seed: RequiredShortText = Field(examples=["queen"])


FallbackIn = Annotated[
    FallbackTracksIn | FallbackPlaylistIn | FallbackCatalogIn, Field(discriminator="kind")
]


class FallbackOut(BaseModel):
    """A party's fallback source: what it is, how many tracks, how many this round used."""

    kind: FallbackKind
    label: str = Field(description="What the host picked, e.g. `Spotify playlist 37i9...`.")
    track_count: int
    used_count: int = Field(description="Tracks autofill took this round (reset each round).")
    tracks: list[Track] = Field(description="The source's first 50 tracks, in order.")
