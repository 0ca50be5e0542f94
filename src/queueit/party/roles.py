"""Who may do what in a party: the roles (host, co-host, guest), the actions, and the one
table that joins them. Every permission check of the party domain goes through `require`,
so a rule is read (and changed) here and nowhere else (docs/DOMAIN.md "Roles")."""

from __future__ import annotations

from enum import StrEnum

from queueit.core.uow import UnitOfWork
from queueit.party import roles_repository
from queueit.party.errors import NotHost, NotManager
from queueit.party.models import Party
from queueit.users.models import User


class Role(StrEnum):
    host = "host"
    co_host = "co_host"
    guest = "guest"


class Action(StrEnum):
    # The crowd's controls, the host's and co-hosts' alike.
    LOCK = "lock"  # lock or unlock adding for guests
    PAUSE = "pause"
    SKIP = "skip"  # skip the current song outright (not the crowd's skip request)
    REMOVE_ANY_SONG = "remove_any_song"  # a guest removes only their own, unvoted ones
    REMOVE_MEMBER_SONGS = "remove_member_songs"
    KICK = "kick"
    BAN = "ban"
    UNBAN = "unban"
    # The host's alone.
    FINISH_SONG = "finish_song"  # the host's player reports the end of a song
    ADD_WHILE_LOCKED = "add_while_locked"
    END = "end"
    GRANT_CO_HOST = "grant_co_host"
    REVOKE_CO_HOST = "revoke_co_host"
    HAND_OVER = "hand_over"
    REMOVE_CO_HOST = "remove_co_host"  # kick or ban someone who is a co-host
    EXPORT_HISTORY = "export_history"
    TV_LINK = "tv_link"  # mint the party's TV link
    CHANGE_RULES = "change_rules"  # the party's settings (party/rules.py)


_MANAGERS = frozenset({Role.host, Role.co_host})
_HOST = frozenset({Role.host})

PERMITS: dict[Action, frozenset[Role]] = {
    Action.LOCK: _MANAGERS,
    Action.PAUSE: _MANAGERS,
    Action.SKIP: _MANAGERS,
    Action.REMOVE_ANY_SONG: _MANAGERS,
    Action.REMOVE_MEMBER_SONGS: _MANAGERS,
    Action.KICK: _MANAGERS,
    Action.BAN: _MANAGERS,
    Action.UNBAN: _MANAGERS,
    Action.FINISH_SONG: _HOST,
    Action.ADD_WHILE_LOCKED: _HOST,
    Action.END: _HOST,
    Action.GRANT_CO_HOST: _HOST,
    Action.REVOKE_CO_HOST: _HOST,
    Action.HAND_OVER: _HOST,
    Action.REMOVE_CO_HOST: _HOST,
    Action.EXPORT_HISTORY: _HOST,
    Action.TV_LINK: _HOST,
    Action.CHANGE_RULES: _HOST,
}


def permits(role: Role, action: Action) -> bool:
    return role in PERMITS[action]


def require(role: Role, action: Action) -> None:
    """Refuse `action` to `role`: 403 `not_host` for what only the host does, 403
    `not_manager` for what the host and co-hosts do."""
    if permits(role, action):
        return
    if PERMITS[action] == _HOST:
        raise NotHost()
    raise NotManager()


async def role_of(uow: UnitOfWork, party: Party, user: User) -> Role:
    """The user's role in `party`: its host, a co-host while they are in it, else a guest."""
    if party.host_id is not None and party.host_id == user.id:
        return Role.host
    if user.current_party_id == party.id and await roles_repository.is_co_host(
        uow.session, party.id, user.id
    ):
        return Role.co_host
    return Role.guest


async def require_role(uow: UnitOfWork, party: Party, actor: User, action: Action) -> Role:
    """The caller's role in `party`, when it permits `action` (else 403)."""
    role = await role_of(uow, party, actor)
    require(role, action)
    return role
