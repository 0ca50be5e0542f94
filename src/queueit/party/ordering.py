"""The order a party's waiting songs play in (docs/DOMAIN.md "Play order"): one rule, and
its fair-play variant the host may turn on (PartySettings.fair_play). The queue's pages, its
events and the next song all sort by these, and nothing else sorts songs."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, case, false, func, select, true

from queueit.party.models import QueuedSong, SongStatus

_HEARD = (SongStatus.playing, SongStatus.played, SongStatus.skipped)


@functools.cache
def play_order() -> tuple[Any, ...]:
    """Vote total desc; within a total, requests before fallback entries; then songs that
    fell into it first (most recent fall first), then songs that rose into it or were added
    (oldest first); then added_at, id.
    Built once: the expressions are immutable and constructing them costs CPU per request."""
    loser_at = case((QueuedSong.entered_tier_by_gain == false(), QueuedSong.last_entered_tier_at))
    gainer_at = case((QueuedSong.entered_tier_by_gain == true(), QueuedSong.last_entered_tier_at))
    return (
        QueuedSong.votes.desc(),
        QueuedSong.is_fallback.asc(),  # fallback entries after requests of the same total
        QueuedSong.entered_tier_by_gain.asc(),
        loser_at.desc(),
        gainer_at.asc(),
        QueuedSong.added_at.asc(),
        QueuedSong.id.asc(),
    )


def fair_turns() -> Any:
    """Fair play: each waiting song of the party (bind parameter `party_id`) with its turn.
    A contributor's turn counts their songs this party played so far (the one playing, the
    played and the skipped ones), plus the song's place among their waiting songs of the same
    vote total (1, 2, 3... in play order). So whoever has had fewer songs played goes next,
    and one prolific guest cannot fill a tier."""
    party: Any = bindparam("party_id")
    heard = (
        select(QueuedSong.added_by_id.label("user_id"), func.count().label("songs"))
        .where(QueuedSong.party_id == party, QueuedSong.status.in_(_HEARD))
        .group_by(QueuedSong.added_by_id)
        .subquery("heard")
    )
    place = func.row_number().over(
        partition_by=(QueuedSong.votes, QueuedSong.added_by_id), order_by=play_order()[1:]
    )
    return (
        select(QueuedSong.id.label("id"), (place + func.coalesce(heard.c.songs, 0)).label("turn"))
        .outerjoin(heard, heard.c.user_id == QueuedSong.added_by_id)
        .where(QueuedSong.party_id == party, QueuedSong.status == SongStatus.queued)
        .subquery("turns")
    )


def fair_play_order(turn: Any) -> tuple[Any, ...]:
    """Fair play: vote total desc, requests before fallback entries (the host's fallback
    source takes no one's turn), then the turn (`fair_turns().c.turn`, as a column of the
    statement), then play order. Votes still decide first."""
    return (QueuedSong.votes.desc(), QueuedSong.is_fallback.asc(), turn.asc(), *play_order()[2:])
