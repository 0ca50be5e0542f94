"""What the transport needs from the application, as a protocol it defines and the
application implements (flows/views.py): the snapshot a socket starts with, the versions
of parties (to repair after a backplane gap), and presence of connected users. The
transport itself knows no domain."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from queueit.core.security import Claims


class Refused(Exception):
    """The socket must be closed with `code` (a reason the client can show or log)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class View:
    """A snapshot: the version it reflects and its data (the `session.snapshot` payload)."""

    version: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PartyState:
    version: int
    ended: bool


class ViewSource(Protocol):
    async def view(self, *, claims: Claims, party_id: uuid.UUID) -> View:
        """The caller's snapshot of the party; raises Refused (4404 not found or ended, 4403
        not a member, 4401 account deleted)."""
        ...

    async def viewer_view(self, *, party_id: uuid.UUID) -> View:
        """The party as a read-only viewer (a TV link) sees it; raises Refused (4404 not
        found or ended)."""
        ...

    async def states(self, party_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, PartyState]:
        """Version and ended flag of each existing party (unknown ids are absent)."""
        ...

    async def touch(
        self, *, user_ids: Collection[uuid.UUID], party_ids: Collection[uuid.UUID]
    ) -> None:
        """Connected users are present; their parties are active."""
        ...


class ViewerTokens(Protocol):
    """Read-only viewer tokens (the application's TV links): a viewer's socket gets the
    party's snapshot and events, never counts as a member, and can change nothing."""

    def verify(self, token: str, *, party_id: uuid.UUID) -> int | None:
        """None when `token` is not a viewer token at all (the member path decides); its
        expiry (epoch seconds) when it is a valid viewer token for this party. Raises
        Refused (4401) for a viewer token that is expired, forged or for another party."""
        ...
