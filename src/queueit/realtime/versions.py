"""What this process has heard, through the backplane, of every party's version: the highest
version of any event seen per party, and an epoch that moves whenever events may have been
lost. Domain-neutral: it knows an event only by its `party_id` and `version`
(core/events.py); what a version means is the publishing domain's business.

A cache that keys what it read by a party's version asks two things of it (party/
read_model_caller.py): has an event with a higher version been heard since, and is the epoch
still the one taken before the read. Every committed change reaches every process's
listeners, so when neither holds, nothing committed after the read has changed the party,
up to the delivery of the events in flight.

The epoch moves on a gap (the Redis backplane reconnected: messages published meanwhile are
gone), when the tracker finds the backplane not live (down, or not running), and when it
forgets a party to stay bounded. `epoch()` is None while the backplane is not live, or when
it cannot carry every process's events (the in-memory backplane of several workers): then
nothing may be trusted beyond what the database says.

What it cannot see: a subscription that died without the reader noticing yet, or another
process whose publish failed while this one's subscription stayed up (a partition between
that process and Redis). Whatever relies on it must bound its trust by time too."""

from __future__ import annotations

import uuid
from collections import OrderedDict

from queueit.core.events import DomainEvent
from queueit.realtime.backplane import Backplane

# Parties remembered; the least recently heard of is forgotten first, and forgetting one moves
# the epoch (an entry read before could otherwise miss that party's later event). ~100 bytes
# a party: a few MB at most.
MAX_PARTIES = 50_000


class VersionTracker:
    """One process's view (asyncio code only: nothing here awaits)."""

    def __init__(
        self, backplane: Backplane, *, complete: bool, max_parties: int = MAX_PARTIES
    ) -> None:
        self._backplane = backplane
        # Whether the backplane carries every process's events (not so for the in-memory one
        # when several workers run: each has its own memory).
        self.complete = complete
        self.running = False  # set by the realtime runtime once the backplane started
        self.max_parties = max_parties
        self._seen: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._epoch = 0
        self._down = True

    def on_event(self, event: DomainEvent, _ts: str) -> None:
        """A backplane listener: every event, local or remote."""
        known = self._seen.get(event.party_id)
        if known is None or event.version > known:
            self._seen[event.party_id] = event.version
        self._seen.move_to_end(event.party_id)
        while len(self._seen) > self.max_parties:
            self._seen.popitem(last=False)
            self._epoch += 1

    def on_gap(self) -> None:
        """A backplane gap listener: events may have been lost."""
        self._epoch += 1

    def epoch(self) -> int | None:
        """The current epoch while every event reaches this process, else None. The first
        epoch after a time not live is a new one, so nothing read before it is trusted."""
        if not (self.running and self.complete and self._backplane.health() == "ok"):
            self._down = True
            return None
        if self._down:
            self._down = False
            self._epoch += 1
        return self._epoch

    def seen(self, party_id: uuid.UUID) -> int | None:
        """The highest version heard of for this party (None: none since it was forgotten,
        or since this process started)."""
        return self._seen.get(party_id)
