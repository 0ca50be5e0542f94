"""Party shapes as the iOS app reads them (API.md §2), and the bodies the party routes take."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    WithJsonSchema,
)

from queueit.catalog.schemas import ImageUrl, Isrc, ProviderId, Source, Track
from queueit.core.text import (
    SPACE,
    STRICT_BODY,
    CleanStr,
    RequiredShortText,
    RequiredTrackText,
    TrackText,
)
from queueit.party.models import SongStatus
from queueit.party.rules import PartySettings
from queueit.users.schemas import UserOut

JOIN_CODE_RE = re.compile(r"^[A-Z0-9](?:[A-Z0-9-]{2,18})[A-Z0-9]$")


def normalise_join_code(value: str) -> str:
    """Trim and upper-case; 4-20 of A-Z, 0-9 and '-', not starting or ending with '-'."""
    value = value.strip().upper()
    if not JOIN_CODE_RE.match(value):
        raise ValueError(
            "join code must be 4-20 letters, digits or '-', not starting or ending with '-'"
        )
    return value


JoinCode = Annotated[
    CleanStr,
    AfterValidator(normalise_join_code),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^{SPACE}*[A-Za-z0-9][A-Za-z0-9-]{{2,18}}[A-Za-z0-9]{SPACE}*$",
            "description": "4-20 letters, digits or '-' (not at either end); case-insensitive",
        }
    ),
]


class SessionCreateIn(BaseModel):
    model_config = STRICT_BODY

    join_code: JoinCode | None = Field(default=None, examples=["PARTY-42"])


class SessionJoinIn(BaseModel):
    model_config = STRICT_BODY

    join_code: JoinCode = Field(examples=["party-42"])


class ControlIn(BaseModel):
    model_config = STRICT_BODY

    is_locked: bool | None = None
    skip_current_track: bool | None = None
    pause_playback: bool | None = None


class SongFinishedIn(BaseModel):
    model_config = STRICT_BODY

    queued_song_id: uuid.UUID | None = None


RoleName = Literal["host", "co_host", "guest"]


class MemberOut(UserOut):
    """A person as a party shows them: `is_host` marks the host, `role` says host, co-host
    or guest (both additive to `User`)."""

    is_host: bool = False
    role: RoleName = Field(default="guest", description="`host`, `co_host` or `guest`.")


class QueuedSongOut(BaseModel):
    id: uuid.UUID
    status: SongStatus
    added_at: datetime
    votes: int
    song: Track
    added_by: MemberOut
    last_entered_tier_at: datetime
    entered_tier_by_gain: bool
    is_fallback: bool = Field(
        default=False,
        description="Queued by autofill from the host's fallback source (sorts after guest"
        " requests of the same total; a +1 makes it an ordinary request).",
    )


class SessionBaseOut(BaseModel):
    id: uuid.UUID
    join_code: str
    created_at: datetime
    host: MemberOut
    host_provider: str
    is_locked: bool
    is_paused: bool
    ended_at: datetime | None
    version: int
    settings: PartySettings = Field(
        default_factory=PartySettings, description="The host's rules (PATCH .../settings)."
    )
    co_hosts: list[MemberOut] = Field(
        default_factory=list, description="The party's co-hosts (party/roles.py)."
    )


class CurrentSessionOut(BaseModel):
    session: SessionBaseOut
    current_song: QueuedSongOut | None
    queue: list[QueuedSongOut]
    queue_total: int
    my_votes: dict[str, int]
    skip_request_count: int
    participant_count: int
    user_requested_skip: bool
    last_skip_was_crowdsourced: bool
    my_role: RoleName = Field(default="guest", description="The caller's role in the party.")


class SkipOut(BaseModel):
    ok: bool = True
    skip_request_count: int
    participant_count: int
    skipped: bool


class SongsRemovedOut(BaseModel):
    """What `DELETE /sessions/current/members/{user_id}/songs` removed."""

    ok: bool = True
    removed: int = Field(ge=0, description="Songs of that member taken out of the queue.")


class RemoveMemberIn(BaseModel):
    """How a kick or a ban treats the member's songs and votes."""

    model_config = STRICT_BODY

    remove_songs: bool = Field(
        default=False,
        description="Also take their waiting songs out of the queue and withdraw their votes.",
    )


class HandOverIn(BaseModel):
    model_config = STRICT_BODY

    user_id: uuid.UUID = Field(description="The new host: in the party now, with an account.")
    old_host_becomes: Literal["co_host", "guest"] = Field(
        default="co_host", description="What the old host is afterwards."
    )


class QueuePage(BaseModel):
    items: list[QueuedSongOut]
    total: int
    limit: int
    offset: int


class ExportFormat(StrEnum):
    """The formats of `GET /sessions/{id}/history/export`."""

    json = "json"
    csv = "csv"
    m3u = "m3u"


class HistoryEntryOut(BaseModel):
    """One played or skipped song of an export (one CSV row, one M3U entry)."""

    played_at: datetime | None = Field(description="When it started playing.")
    finished_at: datetime | None = Field(description="When it was played out or skipped.")
    status: Literal["played", "skipped"]
    name: str
    artists: str = Field(description="All artist names joined with ` & `.")
    album: str
    duration_ms: int
    source: Source
    track_id: str = Field(description="The catalog's track id (`Track.id`).")
    isrc: str
    uri: str = Field(description="The M3U line: `spotify:track:<id>`, an Apple Music URL, ...")
    added_by: str = Field(
        description="The adder's display name, else username; `Guest` for a guest with"
        " neither, `Deleted user` once the account was deleted."
    )
    votes: int
    is_fallback: bool = Field(default=False, description="Autofill queued it (fallback source).")


class HistoryExportOut(BaseModel):
    """The JSON export: the party, then its whole history in play order (oldest first)."""

    session_id: uuid.UUID
    join_code: str
    created_at: datetime
    ended_at: datetime | None
    exported_at: datetime
    items: list[HistoryEntryOut]


# RFC 6750's b64token: what an OAuth access token may hold (a newline would break the header).
_B64TOKEN = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")


def _b64token(value: SecretStr) -> SecretStr:
    if not _B64TOKEN.match(value.get_secret_value()):
        raise ValueError("must be an OAuth access token (letters, digits and -._~+/=)")
    return value


class PlaylistExportIn(BaseModel):
    """`POST /sessions/{id}/export/spotify`: the host's own Spotify token (never stored,
    logged or sent back) and how to name the playlist."""

    model_config = STRICT_BODY

    access_token: Annotated[SecretStr, AfterValidator(_b64token)] = Field(
        min_length=1,
        max_length=4096,
        description="A Spotify user access token with `playlist-modify-private` (and"
        " `playlist-modify-public` for a public playlist).",
    )
    name: RequiredShortText | None = Field(
        default=None, description="Default: `QueueIT <join code> <date>`.", examples=["Party!"]
    )
    public: bool = False


class PlaylistExportOut(BaseModel):
    playlist_id: str
    url: str = Field(description="The playlist's page, https://open.spotify.com/playlist/...")
    added: int = Field(description="Spotify tracks added, in play order.")
    skipped: int = Field(description="History songs from other catalogs, left out.")


def _integer_only(value: object) -> object:
    """JSON `true` is not 1, nor `1.0` or `"1"`: a vote is the integer 1 or -1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("vote_value must be the integer 1 or -1")
    return value


VoteValue = Annotated[Literal[1, -1], BeforeValidator(_integer_only)]


class VoteIn(BaseModel):
    model_config = STRICT_BODY

    vote_value: VoteValue = Field(examples=[1])


class VoteOut(BaseModel):
    ok: bool = True
    total_votes: int


# Search results marked by the caller's party (party/marking.py, API.md §7 "Search marks").


class ReasonOut(BaseModel):
    """Why the caller may not add a track: the code and sentence `POST /songs/add` would
    answer with now."""

    code: str = Field(max_length=64, examples=["track_blocked"])
    message: str = Field(
        max_length=500, examples=["The host has blocked this song or artist at this party."]
    )


class MarkedTrack(Track):
    """A search result with the caller's party's marks. Outside an active party: allowed,
    no reason, not queued, no vote."""

    allowed: bool = Field(
        default=True, description="Whether adding it now would be accepted (party/rules.py)."
    )
    reason: ReasonOut | None = Field(default=None, description="Why not, when not allowed.")
    already_queued: bool = Field(
        default=False, description="It waits in your party's queue: adding it is an upvote."
    )
    my_vote: Literal[1, -1] | None = Field(
        default=None, description="Your vote on its waiting entry, if any."
    )


_MARKS = ("allowed", "reason", "already_queued", "my_vote")


class MarkedTrackList(BaseModel):
    """`GET /spotify/search`: the shape the iOS app reads (it ignores the marks)."""

    tracks: list[MarkedTrack]


class MarkedSearchResults(BaseModel):
    """`GET /catalog/search`: the marked tracks and the catalog they came from."""

    tracks: list[MarkedTrack]
    source: Source | None = None


class AddSongIn(BaseModel):
    """The track to add. `source` and `id` say which track; the server looks it up in its
    catalog and stores and shows the catalog's metadata. A search result may be sent as it
    came (the iOS app and the guest page do): its other fields are checked for shape, then
    ignored (docs/CATALOG.md, "Trusted tracks")."""

    model_config = STRICT_BODY

    id: ProviderId = Field(examples=["4uLU6hMCjMI75M1A2tKUQC"])
    source: Source = Field(examples=["spotify"])
    isrc: Isrc = ""
    name: RequiredTrackText | None = None
    artists: RequiredTrackText | None = None
    album: TrackText = ""
    duration_ms: int | None = Field(default=None, ge=0, le=3_600_000)
    image_url: ImageUrl = None
    explicit: bool | None = None
    # A search result's marks (MarkedTrack), accepted so it can be sent as it came; ignored.
    allowed: bool | None = None
    reason: ReasonOut | None = None
    already_queued: bool | None = None
    my_vote: Literal[1, -1] | None = None

    def as_sent(self) -> Track | None:
        """The client's own description of the track (used only under
        ALLOW_UNVERIFIED_TRACKS), or None when it is incomplete."""
        if self.name is None or self.artists is None or self.duration_ms is None:
            return None
        return Track.model_validate(self.model_dump(exclude=set(_MARKS)))
