"""The fallback source (docs/DOMAIN.md "Fallback source"): the host's list of tracks that
fills the queue when it runs low, and autofill, which runs inside the one advance path
(party/playback.py) under the party's row lock, so racing advances fill exactly once.

Autofill never calls a catalog: the source was resolved and stored when the host set it
(flows/fallback.py), so a provider outage cannot stop the music or hold the lock."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog

from queueit.catalog.schemas import track_of
from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import fallback_repository, queue_repository, rules, rules_repository
from queueit.party.models import Party

log = structlog.get_logger(__name__)


async def fill(uow: UnitOfWork, party: Party) -> int:
    """Queue fallback tracks until `min_queue` songs wait (the one about to start counts);
    how many were queued. The caller holds the party's row lock. Tracks come in the source's
    order, each once per round, and only those the party's content rules allow (length,
    explicit, blocklist, no-repeat window: rules.content_refusal, as for any add)."""
    settings = rules.settings_of(party.settings)
    if settings.min_queue <= 0:
        return 0
    db = uow.session
    if await fallback_repository.source(db, party.id) is None:
        return 0
    need = settings.min_queue - await queue_repository.queue_total(db, party.id)
    if need <= 0:
        return 0
    now = utcnow()
    facts = await _facts(uow, party, settings)
    # The entries are the host's picks, written as the server: autofill may run inside a
    # guest's request (autoplay after an add, a crowd skip), and the queued_songs insert
    # policy lets a member insert only songs they add themselves (docs/RLS.md).
    async with uow.as_system():
        queued = await _take(uow, party, settings, facts, need=need, taken=set())
        if len(queued) < need and await _started_over(uow, party.id):
            queued += await _take(
                uow, party, settings, facts, need=need - len(queued), taken=set(queued)
            )
        for offset, song_id in enumerate(queued):
            await fallback_repository.insert_fallback(
                db,
                party_id=party.id,
                song_id=song_id,
                host_id=party.host_id,
                # Distinct times keep the source's order within one fill (play_order).
                at=now + timedelta(microseconds=offset),
            )
    if queued:
        log.info("fallback_filled", session_id=str(party.id), count=len(queued))
    return len(queued)


async def _facts(uow: UnitOfWork, party: Party, settings: rules.PartySettings) -> rules.AddFacts:
    recent: tuple[frozenset[tuple[str, str]], frozenset[str]] = (frozenset(), frozenset())
    now = utcnow()
    if settings.no_repeat_minutes:
        since = now - timedelta(minutes=settings.no_repeat_minutes)
        recent = await rules_repository.recent_tracks(uow.session, party.id, since)
    return rules.AddFacts(
        is_host=True,
        locked=False,
        now=now,
        waiting=0,
        guest_cap=0,
        network_waiting=0,
        network_cap=0,
        last_added_at=None,
        recent=recent[0],
        recent_isrcs=recent[1],
    )


async def _take(
    uow: UnitOfWork,
    party: Party,
    settings: rules.PartySettings,
    facts: rules.AddFacts,
    *,
    need: int,
    taken: set[uuid.UUID],
) -> list[uuid.UUID]:
    """The next `need` unused tracks the rules allow and the queue does not hold; every
    track looked at is used for this round (a refused or waiting one is not retried until
    the source starts over). `taken`: songs this fill queues already."""
    chosen: list[uuid.UUID] = []
    looked: list[int] = []
    for position, song, waiting in await fallback_repository.unused(uow.session, party.id):
        if len(chosen) >= need:
            break
        looked.append(position)
        if waiting or song.id in taken or song.id in chosen:
            continue
        if rules.content_refusal(settings, track_of(song), facts) is None:
            chosen.append(song.id)
    await fallback_repository.mark_used(uow.session, party.id, looked, utcnow())
    return chosen


async def _started_over(uow: UnitOfWork, party_id: uuid.UUID) -> bool:
    """When every track of the source was used, clear the marks (a new round); False when
    the round is not over or the source is empty."""
    total, used = await fallback_repository.counts(uow.session, party_id)
    if total == 0 or used < total:
        return False
    await fallback_repository.start_over(uow.session, party_id)
    return True
