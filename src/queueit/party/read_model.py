"""GET /sessions/current from a per-process read model of each party, keyed by its version.

The snapshot (party/snapshot.py: the one builder) is the same document for every member
except three fields: `my_votes`, `user_requested_skip` and `my_role`. The read model keeps
each party's document serialised once, cut around those fields, and a request costs one
statement (`read_model_repository.caller_view`: the party's version, the caller's votes and
skip request; the role follows from the document's host and co-hosts, by the snapshot's own
`role_of_viewer`) plus gluing bytes together, instead of building the snapshot.

Why it is safe across processes without listening to anything: every change to a party bumps
its version in the change's transaction (docs/DOMAIN.md), and each request reads the version
from the database before using an entry; an entry is used only when its version is the
party's version now. A change made by another process is therefore seen on the next request.
The version is read under row-level security, so the database still decides who may read
the party (an outsider gets no row: 404, as from the snapshot). (The fast path of
read_model_caller.py reads that version once and then trusts it until the realtime events
say it moved: its docstring says what that leaves to the process.)

What may lag, and by how long (docs/BENCHMARKS.md, docs/API.md): an entry is also dropped
`TTL_SECONDS` after it was built, because some of the document moves without a version bump:
`participant_count` and `skip_request_count` (presence: members becoming present, absent or
established with time), and the names of the host and of the songs' adders (a rename bumps
no party's version). Those may be up to `TTL_SECONDS` old; everything else (the queue, the
votes, the current song, the flags, the settings, the caller's own votes and skip request)
is as of the request (role changes bump the version), or, on PostgreSQL with RLS where a
repeat is answered from the caller's kept row (party/read_model_caller.py), as of the last
event this process heard of, at most `TTL_SECONDS` late.

Bounded: at most `MAX_ENTRIES` documents and `MAX_BYTES` of them per process, least recently
used first out (a document of a 500-song page is about 330 KB)."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

from pydantic import TypeAdapter

from queueit.core.uow import UnitOfWork
from queueit.party import read_model_repository, snapshot
from queueit.party.errors import NoActiveParty
from queueit.party.schemas import CurrentSessionOut, RoleName
from queueit.users.models import User

TTL_SECONDS = 2.0
MAX_ENTRIES = 1_000
MAX_BYTES = 64 * 1024 * 1024

# The response model's own serialiser (as api/responses.Document and FastAPI use it).
_DOCUMENT = TypeAdapter(CurrentSessionOut)
_VOTES = TypeAdapter(dict[str, int])
# The per-caller fields, in the document's order, as the shared copy serialises them: the
# top-level keys come after every nested object of the document that could hold such text
# (session, current_song, queue), hence `rfind`; inside a JSON string a quote is always
# escaped, so these bytes cannot occur in a value.
_CUTS = (
    (b'"my_votes":', b"{}"),
    (b'"user_requested_skip":', b"false"),
    (b'"my_role":', b'"guest"'),
)
_ROLES: dict[RoleName, bytes] = {role: b'"%s"' % role.encode() for role in get_args(RoleName)}

Key = tuple[uuid.UUID, int, int]  # party, queue_limit, queue_offset


@dataclass(frozen=True, slots=True)
class Entry:
    """One party's document at `version`, cut around the caller's fields (`parts` are the
    bytes before, between and after them), with what the caller's role is decided from."""

    version: int
    built_at: float
    parts: tuple[bytes, bytes, bytes, bytes]
    host_id: uuid.UUID
    co_host_ids: frozenset[uuid.UUID]

    @property
    def size(self) -> int:
        return sum(len(part) for part in self.parts)

    def role_of(self, viewer_id: uuid.UUID) -> RoleName:
        return snapshot.role_of_viewer(
            viewer_id, host_id=self.host_id, co_host_ids=self.co_host_ids
        )

    def render(self, *, my_votes: dict[str, int], requested_skip: bool, role: RoleName) -> bytes:
        """The document as one caller gets it: the same bytes the full serialisation gives."""
        head, after_votes, after_skip, tail = self.parts
        return b"".join(
            (
                head,
                _VOTES.dump_json(my_votes) if my_votes else b"{}",
                after_votes,
                b"true" if requested_skip else b"false",
                after_skip,
                _ROLES[role],
                tail,
            )
        )


def entry_of(document: CurrentSessionOut, *, built_at: float) -> Entry:
    """`document` serialised once without its caller's fields, cut where they go."""
    shared = document.model_copy(
        update={"my_votes": {}, "user_requested_skip": False, "my_role": "guest"}
    )
    body = _DOCUMENT.dump_json(shared, by_alias=True)
    parts: list[bytes] = []
    at = 0
    for key, empty in _CUTS:
        value_at = body.rfind(key + empty) + len(key)
        if value_at < max(at, len(key)):  # not found, or out of order: never cut blindly
            raise RuntimeError(f"CurrentSessionOut has no {key!r} where the read model cuts")
        parts.append(body[at:value_at])
        at = value_at + len(empty)
    parts.append(body[at:])
    head, after_votes, after_skip, tail = parts
    return Entry(
        version=document.session.version,
        built_at=built_at,
        parts=(head, after_votes, after_skip, tail),
        host_id=document.session.host.id,
        co_host_ids=frozenset(user.id for user in document.session.co_hosts),
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
            return entry.render(
                my_votes=seen.my_votes,
                requested_skip=seen.requested_skip,
                role=entry.role_of(actor.id),
            )
    document = await snapshot.snapshot(
        uow,
        party_id=party_id,
        viewer_id=actor.id,
        queue_limit=queue_limit,
        queue_offset=queue_offset,
    )
    entry = cache.store(key, document)
    return entry.render(
        my_votes=document.my_votes,
        requested_skip=document.user_requested_skip,
        role=document.my_role,
    )
