"""Search results marked by the caller's party (docs/DOMAIN.md "Party rules"): whether the
caller may add each track, why not, whether it waits in the queue already and their vote on
it. The verdict is party/rules.py `may_add`, the one check adding and re-adding make, so a
mark and the add's answer agree (as of the moment of the search).

A constant number of statements whatever the result count: the party (not locked: marking
changes nothing), one AddFacts (the counts songs.add_facts reads) and one statement for the
waiting entries with the caller's votes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from queueit.catalog.schemas import Track
from queueit.core.uow import UnitOfWork
from queueit.party import guards, marking_repository, rules, songs
from queueit.party.errors import NoActiveParty
from queueit.users.models import User


@dataclass(frozen=True, slots=True)
class Mark:
    """One track's marks. `refusal` is what adding it now would answer (None: allowed)."""

    refusal: rules.Refusal | None = None
    already_queued: bool = False
    my_vote: Literal[1, -1] | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


NEUTRAL = Mark()  # outside any active party: nothing to say about a track


async def marks(
    uow: UnitOfWork, *, actor: User, tracks: Sequence[Track], max_songs_per_guest: int
) -> list[Mark]:
    """The marks of `tracks` for `actor`, in order; NEUTRAL for each when the caller is in no
    active party."""
    if not tracks:
        return []
    try:
        party = await guards.party_of(uow, actor)
    except NoActiveParty:
        return [NEUTRAL] * len(tracks)
    adding = songs.adding_in(party, actor)
    party_rules = rules.settings_of(party.settings)
    facts = await songs.add_facts(
        uow, adding, party_rules, max_songs_per_guest=max_songs_per_guest, new=True
    )
    waiting = await marking_repository.waiting_with_vote(
        uow.session, party.id, actor.id, {(t.source, t.id) for t in tracks}
    )
    marked = []
    for track in tracks:
        key = (track.source, track.id)
        queued = key in waiting
        marked.append(
            Mark(
                refusal=rules.may_add(party_rules, track, facts, queued=queued),
                already_queued=queued,
                my_vote=_vote(waiting.get(key)),
            )
        )
    return marked


def _vote(value: int | None) -> Literal[1, -1] | None:
    return 1 if value == 1 else -1 if value == -1 else None  # the check constraint's values
