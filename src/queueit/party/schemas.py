"""Party shapes as the iOS app reads them (API.md §2), and the bodies the party routes take."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from queueit.catalog.schemas import Track
from queueit.core.text import SPACE, STRICT_BODY, CleanStr
from queueit.party.models import SongStatus
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


class QueuedSongOut(BaseModel):
    id: uuid.UUID
    status: SongStatus
    added_at: datetime
    votes: int
    song: Track
    added_by: UserOut
    last_entered_tier_at: datetime
    entered_tier_by_gain: bool


class SessionBaseOut(BaseModel):
    id: uuid.UUID
    join_code: str
    created_at: datetime
    host: UserOut
    host_provider: str
    is_locked: bool
    is_paused: bool
    ended_at: datetime | None
    version: int


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


class SkipOut(BaseModel):
    ok: bool = True
    skip_request_count: int
    participant_count: int
    skipped: bool


class SongsRemovedOut(BaseModel):
    """What `DELETE /sessions/current/members/{user_id}/songs` removed."""

    ok: bool = True
    removed: int = Field(ge=0, description="Songs of that member taken out of the queue.")


class QueuePage(BaseModel):
    items: list[QueuedSongOut]
    total: int
    limit: int
    offset: int


class VoteIn(BaseModel):
    model_config = STRICT_BODY

    vote_value: Literal[1, -1] = Field(examples=[1])


class VoteOut(BaseModel):
    ok: bool = True
    total_votes: int


class AddSongIn(Track):
    """The track to add, exactly as a search returned it (`isrc`, `image_url` may be "")."""

    model_config = STRICT_BODY
