"""Names in a party: no member may pass for its host (core/text.py `imitates` is the rule)."""

from __future__ import annotations

from collections.abc import Iterable

from queueit.core.text import imitates
from queueit.core.uow import UnitOfWork
from queueit.party import repository
from queueit.party.errors import NameImitatesHost
from queueit.party.models import Party
from queueit.users.models import User


def names_of(user: User) -> list[str]:
    return [name for name in (user.display_name, user.username) if name]


async def refuse_host_imitation(
    uow: UnitOfWork, *, actor: User, party: Party, names: Iterable[str] | None = None
) -> None:
    """409 `name_imitates_host` when one of `names` (the actor's own by default) passes for
    the host of `party`. The host may call themselves what they like."""
    if actor.id == party.host_id:
        return
    host = await uow.session.get(User, party.host_id)
    if host is None:
        return
    host_names = names_of(host)
    for name in names_of(actor) if names is None else names:
        if any(imitates(name, host_name) for host_name in host_names):
            raise NameImitatesHost()


async def refuse_rename_after_host(uow: UnitOfWork, *, actor: User, name: str) -> None:
    """Before a member of an active party takes `name`: refused when it passes for the host."""
    if actor.current_party_id is None:
        return
    party = await repository.get(uow.session, actor.current_party_id)
    if party is not None and party.ended_at is None:
        await refuse_host_imitation(uow, actor=actor, party=party, names=[name])
