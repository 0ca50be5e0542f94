"""The party's rules the host controls (docs/DOMAIN.md "Party rules"): the settings, and the
one "may this member add this track" check that adding, re-adding and the search marks use.

A rule reads only what the server verified (the catalog's own record of the track,
catalog/store.trusted_track) and what the party's rows say; nothing a client sends about a
track is believed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from queueit.catalog.schemas import Track
from queueit.core import errors
from queueit.core.text import RequiredShortText
from queueit.party import errors as party_errors


class VoteMode(StrEnum):
    up_down = "up_down"
    up_only = "up_only"
    off = "off"


class WhoMayAdd(StrEnum):
    everyone = "everyone"
    host_only = "host_only"


BlockList = Annotated[list[RequiredShortText], Field(max_length=200)]


class PartySettings(BaseModel):
    """A party's rules. The defaults keep the behaviour of a party without settings."""

    model_config = ConfigDict(extra="forbid")

    max_songs_per_guest: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Songs one guest may have waiting; null = the server's MAX_SONGS_PER_GUEST.",
    )
    add_cooldown_seconds: int = Field(
        default=0, ge=0, le=3600, description="Seconds a guest waits between two new songs."
    )
    fair_play: bool = Field(
        default=False,
        description="Within one vote total, take turns between the people who added songs.",
    )
    no_repeat_minutes: int = Field(
        default=0,
        ge=0,
        le=1440,
        description="A track played, playing or skipped in the last N minutes cannot be added.",
    )
    min_duration_seconds: int | None = Field(default=None, ge=0, le=3600)
    max_duration_seconds: int | None = Field(default=None, ge=1, le=3600)
    allow_explicit: bool = Field(
        default=True, description="Whether tracks the catalog marks explicit may be added."
    )
    blocked_artists: BlockList = Field(
        default_factory=list, description="Case-insensitive parts of artist names."
    )
    blocked_tracks: BlockList = Field(
        default_factory=list, description="Case-insensitive parts of track names."
    )
    blocked_isrcs: BlockList = Field(default_factory=list, description="Exact ISRCs.")
    vote_mode: VoteMode = VoteMode.up_down
    downvotes_per_hour: int | None = Field(
        default=None, ge=0, le=1000, description="Downvotes one guest may cast an hour; null = any."
    )
    auto_remove: bool = Field(
        default=False,
        description="A waiting song whose total falls below the threshold leaves the queue.",
    )
    auto_remove_min_votes: int = Field(
        default=2, ge=1, le=1000, description="The threshold is -max(this, percent of present)."
    )
    auto_remove_percent: int = Field(default=30, ge=1, le=100)
    who_may_add: WhoMayAdd = WhoMayAdd.everyone
    min_queue: int = Field(
        default=3,
        ge=0,
        le=50,
        description="With a fallback source set, autofill keeps this many songs waiting"
        " (counting the one about to start); 0 = no autofill.",
    )

    def check(self) -> PartySettings:
        if (
            self.min_duration_seconds is not None
            and self.max_duration_seconds is not None
            and self.min_duration_seconds > self.max_duration_seconds
        ):
            raise party_errors.SettingsInvalid(
                "min_duration_seconds must not be greater than max_duration_seconds."
            )
        return self

    def auto_remove_below(self, present: int) -> int:
        """The total a waiting song must fall below to leave the queue: -max(min, p% of the
        members present, rounded up)."""
        return -max(self.auto_remove_min_votes, math.ceil(present * self.auto_remove_percent / 100))


DEFAULT = PartySettings()


def settings_of(stored: dict[str, Any] | None) -> PartySettings:
    """The settings a party row holds (keys it does not hold take their defaults; a key an
    older or newer server wrote that this one does not know is ignored)."""
    if not stored:
        return DEFAULT
    known = {k: v for k, v in stored.items() if k in PartySettings.model_fields}
    try:
        return PartySettings.model_validate(known)
    except ValidationError:
        return DEFAULT  # a row no version of this server wrote: the defaults, never a 500


def fair_play(party: Any) -> bool:
    """Whether the party plays in the fair-play order (party/ordering.py)."""
    return bool(party.settings) and settings_of(party.settings).fair_play


def changed(current: PartySettings, patch: dict[str, Any]) -> PartySettings:
    """`current` with the fields of a PATCH body replaced (422 for a bad value)."""
    merged = current.model_dump() | patch
    try:
        return PartySettings.model_validate(merged).check()
    except ValidationError as exc:
        raise party_errors.SettingsInvalid(_first_error(exc)) from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}"


@dataclass(frozen=True, slots=True)
class AddFacts:
    """What the rules need to know about the adder and the party, read once (under the
    party's lock for an add; unlocked for marking search results)."""

    is_host: bool
    locked: bool  # the party is locked and the adder's role may not add while it is
    now: datetime
    waiting: int  # songs this member has waiting
    guest_cap: int  # the cap that applies (the host's setting, or the server's)
    network_waiting: int  # songs waiting from members of the adder's address (0: not capped)
    network_cap: int  # MAX_SONGS_PER_ADDRESS (docs/DOMAIN.md "Crowds and addresses")
    last_added_at: datetime | None  # this member's latest new song in the party
    recent: frozenset[tuple[str, str]]  # (source, track id) played/playing/skipped recently
    recent_isrcs: frozenset[str]


# Why a track may not be added: the add's error, and the search result's `reason` (its code).
Refusal = errors.AppError


def may_add(
    settings: PartySettings, track: Track, facts: AddFacts, *, queued: bool = False
) -> Refusal | None:
    """The one check for a track entering the queue; None when the member may add it.
    `queued`: the track is waiting already, so adding it again is an upvote (the limits on
    how many songs a guest adds do not apply; the rest do). The host is bound by the content
    rules (length, explicit, blocklist, repeats) they set, not by the ones for guests."""
    if facts.locked:
        return party_errors.PartyLocked()
    if not facts.is_host:
        if settings.who_may_add is WhoMayAdd.host_only:
            return party_errors.HostOnlyAdds()
        if not queued and facts.waiting >= facts.guest_cap:
            return party_errors.SongLimitReached(
                f"A guest may have {facts.guest_cap} songs waiting at once."
            )
        if not queued and facts.network_waiting >= facts.network_cap:
            return party_errors.SongLimitReached(
                f"The guests on your network have {facts.network_cap} songs waiting, as many as"
                " one network may; wait until some have played."
            )
        if not queued and settings.add_cooldown_seconds and facts.last_added_at is not None:
            ready = facts.last_added_at + timedelta(seconds=settings.add_cooldown_seconds)
            if ready > facts.now:
                wait = math.ceil((ready - facts.now).total_seconds())
                return party_errors.AddCooldown(
                    f"You can add another song in {wait} s.", headers={"Retry-After": str(wait)}
                )
    return content_refusal(settings, track, facts, queued=queued)


def content_refusal(
    settings: PartySettings, track: Track, facts: AddFacts, *, queued: bool = False
) -> Refusal | None:
    """The rules about the track itself, the same for everyone (a waiting track has not
    played lately, whatever the window says)."""
    seconds = track.duration_ms / 1000
    if settings.min_duration_seconds is not None and seconds < settings.min_duration_seconds:
        return party_errors.TrackTooShort(
            f"Songs must be at least {_minutes(settings.min_duration_seconds)} long here."
        )
    if settings.max_duration_seconds is not None and seconds > settings.max_duration_seconds:
        return party_errors.TrackTooLong(
            f"Songs may be at most {_minutes(settings.max_duration_seconds)} long here."
        )
    if not settings.allow_explicit and track.explicit:
        return party_errors.ExplicitNotAllowed()
    if _blocked(settings, track):
        return party_errors.TrackBlocked()
    if (
        settings.no_repeat_minutes
        and not queued
        and (
            (track.source, track.id) in facts.recent
            or (track.isrc and track.isrc in facts.recent_isrcs)
        )
    ):
        return party_errors.RecentlyPlayed(
            f"This song played in the last {settings.no_repeat_minutes} minutes; pick another."
        )
    return None


def _blocked(settings: PartySettings, track: Track) -> bool:
    artists, name = track.artists.casefold(), track.name.casefold()
    isrc = track.isrc.upper()
    return (
        any(part.casefold() in artists for part in settings.blocked_artists)
        or any(part.casefold() in name for part in settings.blocked_tracks)
        or bool(isrc and any(isrc == entry.upper() for entry in settings.blocked_isrcs))
    )


def _minutes(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"
