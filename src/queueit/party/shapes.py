"""Rows as the API shapes them: QueuedSong (a queue row: queued song, track, adder) and User."""

from __future__ import annotations

import uuid
from typing import Any

from queueit.catalog.schemas import track_of
from queueit.party.queue_repository import SongRow
from queueit.party.schemas import MemberOut, QueuedSongOut, RoleName
from queueit.users.models import MusicProvider, User
from queueit.users.schemas import UserOut

# Songs outlive the accounts that added them; the app always expects an `added_by` object.
DELETED_USER = MemberOut(
    id=uuid.UUID(int=0),
    username=None,
    display_name="Deleted user",
    music_provider=MusicProvider.none,
    storefront="us",
    is_anonymous=True,
)


def user_of(
    user: User | Any | None, *, is_host: bool = False, role: RoleName = "guest"
) -> MemberOut:
    """The API shape of a member (a model or a row of its columns); None or an all-None outer
    join row is a deleted account."""
    if user is None or user.id is None:
        return DELETED_USER
    member = MemberOut.model_validate(user)
    if is_host:
        return member.model_copy(update={"is_host": True, "role": "host"})
    return member.model_copy(update={"role": role}) if role != "guest" else member


def _user_fields(user: Any) -> dict[str, Any] | UserOut:
    if user is None or user.id is None:
        return DELETED_USER
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "music_provider": user.music_provider,
        "storefront": user.storefront,
        "is_anonymous": user.is_anonymous,
        "is_host": bool(user.is_host),
        "role": "host" if user.is_host else "co_host" if user.is_co_host else "guest",
    }


def queued_song_out(row: SongRow) -> QueuedSongOut:
    """One validation call from plain values (pydantic's compiled validator is quicker than
    building the nested models in Python; GET /sessions/current builds 100 of these). The
    stored track is taken as it is, as before."""
    queued, song, added_by = row[0], row[1], row[2]
    return QueuedSongOut.model_validate(
        {
            "id": queued.id,
            "status": queued.status,
            "added_at": queued.added_at,
            "votes": queued.votes,
            "song": track_of(song),
            "added_by": _user_fields(added_by),
            "last_entered_tier_at": queued.last_entered_tier_at,
            "entered_tier_by_gain": queued.entered_tier_by_gain,
            "is_fallback": queued.is_fallback,
        }
    )
