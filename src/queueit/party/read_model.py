"""GET /sessions/current from a per-process read model of each party, keyed by its version.

The snapshot (party/snapshot.py, unchanged: the one builder) is the same document for every
member except two fields, `my_votes` and `user_requested_skip`. The read model keeps each
party's document serialised once, cut around those two fields, and a request costs one
statement (`read_model_repository.caller_view`: the party's version and the caller's two
fields) plus gluing bytes together, instead of building the snapshot.

Why it is safe across processes without listening to anything: every change to a party bumps
its version in the change's transaction (docs/DOMAIN.md), and each request reads the version
from the database before using an entry; an entry is used only when its version is the
party's version now. A change made by another process is therefore seen on the next request.
The version is read under row-level security, so the database still decides who may read
the party (an outsider gets no row: 404, as from the snapshot).

What may lag, and by how long (docs/BENCHMARKS.md, docs/API.md): an entry is also dropped
`TTL_SECONDS` after it was built, because some of the document moves without a version bump:
`participant_count` and `skip_request_count` (presence: members becoming present, absent or
established with time), and the names of the host and of the songs' adders (a rename bumps
no party's version). Those may be up to `TTL_SECONDS` old; everything else (the queue, the
votes, the current song, the flags, the settings, the caller's own votes and skip request)
is as of the request.

Bounded: at most `MAX_ENTRIES` documents and `MAX_BYTES` of them per process, least recently
used first out (a document of a 500-song page is about 330 KB)."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import TypeAdapter

from queueit.core.uow import UnitOfWork
from queueit.party import read_model_repository, snapshot
from queueit.party.errors import NoActiveParty
from queueit.party.schemas import CurrentSessionOut
from queueit.users.models import User

TTL_SECONDS = 2.0
MAX_ENTRIES = 1_000
MAX_BYTES = 64 * 1024 * 1024

# The response model's own serialiser (as api/responses.Document and FastAPI use it).
_DOCUMENT = TypeAdapter(CurrentSessionOut)
_VOTES = TypeAdapter(dict[str, int])
# The per-caller fields, serialised empty: the top-level keys come after every nested object
# of the document that could hold such text (session, current_song, queue), hence `rfind`;
# inside a JSON string a quote is always escaped, so the bytes cannot occur in a value.
_VOTES_KEY, _EMPTY_VOTES = b'"my_votes":', b"{}"
_SKIP_KEY, _NO_SKIP = b'"user_requested_skip":', b"false"

Key = tuple[uuid.UUID, int, int]  # party, queue_limit, queue_offset


@dataclass(frozen=True, slots=True)
class Entry:
    """One party's document at `version`, cut around the caller's two fields."""

    version: int
    built_at: float
    head: bytes
    middle: bytes
    tail: bytes

    @property
    def size(self) -> int:
        return len(self.head) + len(self.middle) + len(self.tail)

    def render(self, *, my_votes: dict[str, int], requested_skip: bool) -> bytes:
        """The document as one caller gets it: the same bytes the full serialisation gives."""
        votes = _VOTES.dump_json(my_votes) if my_votes else _EMPTY_VOTES
        skip = b"true" if requested_skip else _NO_SKIP
        return b"".join((self.head, votes, self.middle, skip, self.tail))


def entry_of(document: CurrentSessionOut, *, built_at: float) -> Entry:
    """`document` serialised once without its caller's fields, cut where they go."""
    shared = document.model_copy(update={"my_votes": {}, "user_requested_skip": False})
    body = _DOCUMENT.dump_json(shared, by_alias=True)
    votes_at = body.rfind(_VOTES_KEY + _EMPTY_VOTES) + len(_VOTES_KEY)
    skip_at = body.rfind(_SKIP_KEY + _NO_SKIP) + len(_SKIP_KEY)
    assert len(_VOTES_KEY) <= votes_at < skip_at, "the response model lost a per-caller field"
    return Entry(
        version=document.session.version,
        built_at=built_at,
        head=body[:votes_at],
        middle=body[votes_at + len(_EMPTY_VOTES) : skip_at],
        tail=body[skip_at + len(_NO_SKIP) :],
    )


class ReadModel:
    """This process's documents, least recently used first out. Asyncio code only (one
    thread): nothing here awaits, so no request sees an entry half-replaced."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.max_entries, self.max_bytes, self.clock = ttl, max_entries, max_bytes, clock
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def fresh(self, key: Key) -> Entry | None:
        """The entry for `key` if built less than `ttl` ago (its version still to check)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry.built_at >= self.ttl:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def store(self, key: Key, document: CurrentSessionOut) -> Entry:
        entry = entry_of(document, built_at=self.clock())
        if key in self._entries:
            if self._entries[key].version > entry.version:  # a slower, older build lost
                return entry
            self._drop(key)
        if entry.size <= self.max_bytes:
            self._entries[key] = entry
            self._bytes += entry.size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))
        return entry

    def _drop(self, key: Key) -> None:
        self._bytes -= self._entries.pop(key).size


async def current(
    uow: UnitOfWork, *, cache: ReadModel, actor: User, queue_limit: int, queue_offset: int
) -> bytes:
    """GET /sessions/current's body for the caller: what `snapshot.current` answers, as
    bytes (404 `no_active_session` when the caller is in no party, or it ended)."""
    party_id = actor.current_party_id
    if party_id is None:
        raise NoActiveParty()
    key = (party_id, queue_limit, queue_offset)
    entry = cache.fresh(key)
    if entry is not None:
        seen = await read_model_repository.caller_view(uow.session, party_id, actor.id)
        if seen is None or seen.ended:
            raise NoActiveParty()
        if seen.version == entry.version:
            return entry.render(my_votes=seen.my_votes, requested_skip=seen.requested_skip)
    document = await snapshot.snapshot(
        uow,
        party_id=party_id,
        viewer_id=actor.id,
        queue_limit=queue_limit,
        queue_offset=queue_offset,
    )
    entry = cache.store(key, document)
    return entry.render(my_votes=document.my_votes, requested_skip=document.user_requested_skip)
