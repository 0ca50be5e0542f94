"""What a party looks like to someone outside the request cycle: a member's socket (the
realtime transport's ViewSource) and the TV screen."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from queueit.core import errors
from queueit.core.security import Claims
from queueit.core.types import utcnow
from queueit.core.uow import Database, UnitOfWork, open_uow
from queueit.party import guards, presence, snapshot
from queueit.party.errors import NoActiveParty
from queueit.party.schemas import CurrentSessionOut
from queueit.realtime.protocol import CloseCode
from queueit.realtime.source import PartyState, Refused, View
from queueit.users import service as users_service

# The TV is not a user: it sees the party as someone with no votes and no skip request.
TV_VIEWER = uuid.UUID(int=0)
TV_QUEUE_LIMIT = 20


async def tv_view(uow: UnitOfWork, *, party_id: uuid.UUID) -> CurrentSessionOut:
    """The party as the TV shows it (the caller has checked the TV token)."""
    return await snapshot.snapshot(
        uow, party_id=party_id, viewer_id=TV_VIEWER, queue_limit=TV_QUEUE_LIMIT
    )


class PartyViews:
    """The realtime transport's ViewSource, from the database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def view(self, *, claims: Claims, party_id: uuid.UUID) -> View:
        """The member's snapshot, after checking that the party is active (else 4404) and
        that the caller is in it (else 4403). Provisions the user, as any API call does."""
        async with open_uow(self.database) as uow:
            try:
                user = await users_service.current_user(uow, claims=claims)
            except errors.Unauthorized as exc:  # e.g. the account was deleted
                raise Refused(CloseCode.AUTH_FAILED, exc.code) from exc
            if await guards.party_state(uow, party_id) != "active":
                raise Refused(CloseCode.NOT_FOUND, "session not found or ended")
            if user.current_party_id != party_id:
                raise Refused(CloseCode.NOT_MEMBER, "not a member of this session")
            try:
                view = await snapshot.snapshot(uow, party_id=party_id, viewer_id=user.id)
            except NoActiveParty as exc:  # ended between the two reads
                raise Refused(CloseCode.NOT_FOUND, "session not found or ended") from exc
        return View(version=view.session.version, data=view.model_dump(mode="json"))

    async def viewer_view(self, *, party_id: uuid.UUID) -> View:
        """What the party's TV shows (the transport has checked the viewer token), read
        under row-level security as that party's viewer; 4404 once it ended."""
        async with open_uow(self.database) as uow:
            await uow.act_as_viewer(party_id)
            try:
                view = await tv_view(uow, party_id=party_id)
            except NoActiveParty as exc:
                raise Refused(CloseCode.NOT_FOUND, "session not found or ended") from exc
        return View(version=view.session.version, data=view.model_dump(mode="json"))

    async def states(self, party_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, PartyState]:
        async with open_uow(self.database, system=True) as uow:
            found = await snapshot.versions(uow, party_ids)
        return {pid: PartyState(version=v.version, ended=v.ended) for pid, v in found.items()}

    async def touch(
        self, *, user_ids: Collection[uuid.UUID], party_ids: Collection[uuid.UUID]
    ) -> None:
        if not user_ids and not party_ids:
            return
        async with open_uow(self.database, system=True) as uow:
            await presence.touch(uow, user_ids=user_ids, party_ids=party_ids, at=utcnow())
