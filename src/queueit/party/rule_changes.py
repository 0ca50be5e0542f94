"""Reading and changing a party's rules (party/rules.py): members read them, the host
changes them; a change is one new version and one `session.updated` with the settings."""

from __future__ import annotations

from typing import Any

import structlog

from queueit.core.uow import UnitOfWork
from queueit.party import events, guards, repository, roles
from queueit.party.rules import PartySettings, changed, settings_of
from queueit.users.models import User

log = structlog.get_logger(__name__)


async def read(uow: UnitOfWork, *, actor: User) -> PartySettings:
    """The rules of the caller's party."""
    return settings_of((await guards.party_of(uow, actor)).settings)


async def change(uow: UnitOfWork, *, actor: User, patch: dict[str, Any]) -> PartySettings:
    """Host only: replace the fields `patch` names. Unchanged rules publish nothing."""
    party, _ = await guards.managed_party(uow, actor, roles.Action.CHANGE_RULES)
    current = settings_of(party.settings)
    new = changed(current, patch)
    if new == current:
        return current
    # Only what differs from the defaults is stored: `{}` is a party with today's behaviour.
    party.settings = new.model_dump(mode="json", exclude_defaults=True)
    version = await repository.bump_version(uow.session, party)
    uow.publish(await events.party_updated(uow, party))
    if new.fair_play != current.fair_play:
        # The queue's order changed with the rule: its event, at the same version.
        uow.publish(await events.queue_updated(uow.session, party.id, version))
    log.info("party_rules_changed", session_id=str(party.id), changed=sorted(patch))
    return new
