"""Row-level security on PostgreSQL (docs/RLS.md): which role and claims a transaction runs
with. Migration 0002 creates the roles and the policies; this module switches between them,
transaction by transaction, on a pooled connection.

User requests run as RLS_USER_ROLE with the caller's claims (as Supabase's PostgREST sets
them); the server's own work as RLS_SYSTEM_ROLE. Everything is transaction-local
(`set_config(..., true)`), so nothing outlives a transaction on a pooled connection."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction

RLS_USER_ROLE = "queueit_user"
RLS_SYSTEM_ROLE = "queueit_system"
# One statement: claims, the subject, then `role` (what SET LOCAL ROLE sets).
_APPLY = text(
    "SELECT set_config('request.jwt.claims', :claims, true),"
    " set_config('request.jwt.claim.sub', :sub, true),"
    " set_config('role', :role, true)"
)


@dataclass
class RlsIdentity:
    """The role and claims of one database session, re-applied at the start of each of its
    transactions (SET LOCAL ends with its transaction; a unit of work may commit twice)."""

    session: AsyncSession
    role: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    _in_transaction: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        event.listen(self.session.sync_session, "after_begin", self._on_begin)
        event.listen(self.session.sync_session, "after_transaction_end", self._on_end)

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    async def switch(self, role: str, claims: dict[str, Any]) -> None:
        self.role, self.claims = role, claims
        if self._in_transaction:  # already begun: apply now; otherwise at BEGIN
            await self.session.execute(_APPLY, self._parameters())

    def _parameters(self) -> dict[str, str]:
        return {
            "claims": json.dumps(self.claims),
            "sub": str(self.claims.get("sub", "")),
            "role": self.role or "",
        }

    def _on_begin(
        self, _session: OrmSession, transaction: SessionTransaction, connection: Connection
    ) -> None:
        if transaction.nested:
            return  # a savepoint inherits its transaction's settings
        self._in_transaction = True
        if self.role is not None:
            connection.execute(_APPLY, self._parameters())

    def _on_end(self, _session: OrmSession, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            self._in_transaction = False


def user_claims(user_id: uuid.UUID, *, is_anonymous: bool) -> dict[str, Any]:
    return {"sub": str(user_id), "role": "authenticated", "is_anonymous": is_anonymous}


def viewer_claims(party_id: uuid.UUID) -> dict[str, Any]:
    """The holder of a party's TV link: no user; the policies let it read that party only."""
    return {"role": "anon", "queueit_tv_session": str(party_id)}
