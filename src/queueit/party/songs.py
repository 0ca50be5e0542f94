"""Songs in the queue: adding (re-adding a queued track is an upvote; the first song of an
idle party starts at once) and removing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog

from queueit.catalog.schemas import Track
from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import (
    events,
    guards,
    playback,
    queue_repository,
    repository,
    roles,
    rules,
    rules_repository,
    snapshot,
    vote_repository,
)
from queueit.party.errors import (
    NotAllowedToRemove,
    QueueFull,
    SongNotFound,
    SongNotRemovable,
)
from queueit.party.models import Party, QueuedSong, SongStatus
from queueit.party.schemas import QueuedSongOut
from queueit.party.voting import address_may_vote, apply_vote, vote_refusal
from queueit.users.models import User

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Adding:
    """An add the party's rules allowed: the caller's party, row-locked, their role in it,
    and the track's waiting entry when it is queued already (adding it again is an upvote)."""

    party: Party
    actor: User
    role: roles.Role
    existing: QueuedSong | None = None

    @property
    def is_host(self) -> bool:
        """The host's adds are not capped (co-hosts' are, like guests')."""
        return self.role is roles.Role.host


async def begin_add(
    uow: UnitOfWork, actor: User, *, track: Track, max_songs_per_guest: int
) -> Adding:
    """Lock the caller's party (adds to one party are serialised from here, so the rules'
    counts hold under concurrent adds) and check the party's rules let the member add
    `track`, the catalog's record (party/rules.py may_add). The track is stored after this,
    so a refused add writes nothing."""
    party = await guards.locked_party_of(uow, actor)
    existing = await queue_repository.find_queued(uow.session, party.id, track.source, track.id)
    adding = adding_in(party, actor, existing=existing)
    party_rules = rules.settings_of(party.settings)
    facts = await add_facts(
        uow, adding, party_rules, max_songs_per_guest=max_songs_per_guest, new=existing is None
    )
    refusal = rules.may_add(party_rules, track, facts, queued=existing is not None)
    if refusal is not None:
        raise refusal
    return adding


def adding_in(party: Party, actor: User, *, existing: QueuedSong | None = None) -> Adding:
    """`actor` adding to `party`, in the role the add rules give them (the search marks use
    the same, unlocked, party/marking.py)."""
    # Co-hosts add as guests do (the table: only the host adds while locked, only the host is
    # uncapped), so the hot add path does not read their role.
    role = roles.Role.host if party.host_id == actor.id else roles.Role.guest
    return Adding(party=party, actor=actor, role=role, existing=existing)


async def add_song(
    uow: UnitOfWork, adding: Adding, *, song_id: uuid.UUID, max_queue_length: int
) -> QueuedSongOut:
    """Queue a stored track (catalog/store.py) in the party `begin_add` locked and checked."""
    party, actor, existing = adding.party, adding.actor, adding.existing
    db = uow.session
    if existing is not None:
        # Re-adding is an upvote, under the party's vote rules and capped per address like
        # any vote; when a rule refuses it (voting is off), it changes nothing.
        ballot = await vote_repository.lock_ballot(db, existing.id, party.id, actor.id)
        assert ballot is not None  # locked by find_queued
        refusal = await vote_refusal(
            uow,
            party_id=party.id,
            host_id=party.host_id,
            song=ballot,
            actor=actor,
            value=1,
            settings=rules.settings_of(party.settings),
        )
        allowed = refusal is None and await address_may_vote(
            uow, ballot, actor, host_id=party.host_id
        )
        tally = await apply_vote(uow, ballot, actor.id, 1) if allowed else None
        if tally is not None:
            version = await repository.bump_version(db, party)
            uow.publish(events.votes_updated(party.id, version, tally))
        return await snapshot.song_out(uow, existing.id)
    if await queue_repository.queue_total(db, party.id) >= max_queue_length:
        raise QueueFull(f"The queue is full ({max_queue_length} songs).")
    queued = await queue_repository.insert_queued(
        db, party_id=party.id, song_id=song_id, user_id=actor.id
    )
    if party.current_song_id is None:
        await playback.advance(uow, party=party, outcome=SongStatus.played, crowdsourced=False)
    else:
        version = await repository.bump_version(db, party)
        uow.publish(await events.queue_updated(db, party.id, version))
    log.info("song_added", session_id=str(party.id), queued_song_id=str(queued.id))
    return await snapshot.song_out(uow, queued.id)


async def add_facts(
    uow: UnitOfWork,
    adding: Adding,
    party_rules: rules.PartySettings,
    *,
    max_songs_per_guest: int,
    new: bool = True,
) -> rules.AddFacts:
    """What the rules need to know about the adder and the party. `new`: for a track not
    waiting yet (a re-add needs none of the counts, so they are not read)."""
    db, party, actor = uow.session, adding.party, adding.actor
    now = utcnow()
    guest = not adding.is_host
    recent: tuple[frozenset[tuple[str, str]], frozenset[str]] = (frozenset(), frozenset())
    if new and party_rules.no_repeat_minutes:
        since = now - timedelta(minutes=party_rules.no_repeat_minutes)
        recent = await rules_repository.recent_tracks(db, party.id, since)
    network_waiting = 0
    if new and guest and actor.join_address is not None:
        network_waiting = await queue_repository.count_added_from(db, party.id, actor.join_address)
        if network_waiting >= uow.settings.max_songs_per_address and (
            await repository.on_host_network(db, party.host_id, actor.join_address)
        ):
            network_waiting = 0  # the host's own network is never capped
    return rules.AddFacts(
        is_host=adding.is_host,
        locked=party.is_locked and not roles.permits(adding.role, roles.Action.ADD_WHILE_LOCKED),
        now=now,
        waiting=await queue_repository.count_added_by(db, party.id, actor.id)
        if new and guest
        else 0,
        guest_cap=party_rules.max_songs_per_guest or max_songs_per_guest,
        network_waiting=network_waiting,
        network_cap=uow.settings.max_songs_per_address,
        last_added_at=(
            await rules_repository.last_added_at(db, party.id, actor.id)
            if new and guest and party_rules.add_cooldown_seconds
            else None
        ),
        recent=recent[0],
        recent_isrcs=recent[1],
    )


async def remove_song(uow: UnitOfWork, *, actor: User, queued_song_id: uuid.UUID) -> None:
    """The host or a co-host removes any queued song; the adder removes theirs while no one
    else voted."""
    party = await guards.locked_party_of(uow, actor)
    song = await queue_repository.lock_in_party(uow.session, queued_song_id, party.id)
    if song is None:
        raise SongNotFound()
    role = await roles.role_of(uow, party, actor)
    if not roles.permits(role, roles.Action.REMOVE_ANY_SONG):
        if song.added_by_id != actor.id:
            raise NotAllowedToRemove()
        if await queue_repository.has_votes_from_others(uow.session, song.id, actor.id):
            raise NotAllowedToRemove(
                "Others have voted on this song; only the host or a co-host can remove it."
            )
    if song.status != SongStatus.queued:
        raise SongNotRemovable()
    await queue_repository.remove(uow.session, song.id, utcnow())
    version = await repository.bump_version(uow.session, party)
    uow.publish(await events.queue_updated(uow.session, party.id, version))


async def remove_songs_of(uow: UnitOfWork, *, actor: User, user_id: uuid.UUID) -> int:
    """The host or a co-host removes every song one member has waiting (a troll's flood, in
    one go): one new version and one `queue.updated`, however many songs. Returns how many
    were removed."""
    party, _ = await guards.managed_party(uow, actor, roles.Action.REMOVE_MEMBER_SONGS)
    removed = await queue_repository.remove_added_by(uow.session, party.id, user_id, utcnow())
    if removed:
        version = await repository.bump_version(uow.session, party)
        uow.publish(await events.queue_updated(uow.session, party.id, version))
        log.info(
            "member_songs_removed", session_id=str(party.id), user_id=str(user_id), count=removed
        )
    return removed
