"""The host's fallback source of a party (docs/DOMAIN.md "Fallback source"): members read
it, the host replaces or clears it. Resolving the tracks (catalog calls) happens before
this, in flows/fallback.py; here the stored songs become the party's ordered source."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog

from queueit.catalog.schemas import track_of
from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import (
    events,
    fallback,
    fallback_repository,
    guards,
    playback,
    repository,
    roles,
)
from queueit.party.fallback_schemas import FallbackKind, FallbackOut
from queueit.party.models import Party, SongStatus
from queueit.users.models import User

log = structlog.get_logger(__name__)

SHOWN_TRACKS = 50  # tracks of the source GET shows


async def read(uow: UnitOfWork, *, actor: User) -> FallbackOut | None:
    """The caller's party's source, or None when it has none."""
    party = await guards.party_of(uow, actor)
    return await _out(uow, party.id)


async def replace(
    uow: UnitOfWork,
    *,
    actor: User,
    kind: FallbackKind,
    label: str,
    song_ids: Sequence[uuid.UUID],
) -> FallbackOut:
    """Host only: the party's source becomes these stored songs (resolved by the caller,
    before the lock), and the queue fills at once: an idle party starts playing."""
    # The source is one of the party's rules: the host's alone, like the settings.
    party, _ = await guards.managed_party(uow, actor, roles.Action.CHANGE_RULES)
    db = uow.session
    await fallback_repository.replace(
        db,
        party.id,
        kind=kind.value,
        label=label,
        song_ids=list(dict.fromkeys(song_ids)),
        at=utcnow(),
    )
    await _announce_fill(uow, party)
    log.info("fallback_set", session_id=str(party.id), kind=kind, tracks=len(song_ids))
    out = await _out(uow, party.id)
    assert out is not None  # just written
    return out


async def clear(uow: UnitOfWork, *, actor: User) -> None:
    """Host only: no fallback source any more (fallback entries already waiting stay)."""
    party, _ = await guards.managed_party(uow, actor, roles.Action.CHANGE_RULES)
    if await fallback_repository.clear(uow.session, party.id):
        log.info("fallback_cleared", session_id=str(party.id))


async def _announce_fill(uow: UnitOfWork, party: Party) -> None:
    if party.current_song_id is None:
        await playback.advance(uow, party=party, outcome=SongStatus.played, crowdsourced=False)
    elif await fallback.fill(uow, party):
        version = await repository.bump_version(uow.session, party)
        uow.publish(await events.queue_updated(uow.session, party.id, version))


async def _out(uow: UnitOfWork, party_id: uuid.UUID) -> FallbackOut | None:
    db = uow.session
    source = await fallback_repository.source(db, party_id)
    if source is None:
        return None
    total, used = await fallback_repository.counts(db, party_id)
    shown = await fallback_repository.tracks(db, party_id, limit=SHOWN_TRACKS)
    return FallbackOut(
        kind=FallbackKind(source.kind),
        label=source.label,
        track_count=total,
        used_count=used,
        tracks=[track_of(song) for song in shown],
    )
