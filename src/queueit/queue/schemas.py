"""Queue shapes: QueuedSong, votes, paging."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from queueit.catalog.schemas import Track
from queueit.core.text import STRICT_BODY
from queueit.queue.models import SongStatus
from queueit.users.schemas import UserOut


class QueuedSongOut(BaseModel):
    id: uuid.UUID
    status: SongStatus
    added_at: datetime
    votes: int
    song: Track
    added_by: UserOut
    last_entered_tier_at: datetime
    entered_tier_by_gain: bool


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


class OkOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"ok": True}})

    ok: bool = True


class AddSongIn(Track):
    """The track to add, exactly as a search returned it (`isrc`, `image_url` may be "")."""

    model_config = STRICT_BODY
