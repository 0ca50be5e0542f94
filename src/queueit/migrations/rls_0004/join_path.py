"""Join codes readable only through the join path, and membership changed only by it.

A join presents its code in a transaction-local setting (`queueit.join_code`, set by
party/repository.active_by_code). An active party's row is readable by someone outside it only
when that code is presented, and `users.current_session_id` may point only at an active party
the caller hosts or whose code the transaction presented. Knowing the code is what joining
means; setting the variable without it finds nothing."""

from __future__ import annotations

from queueit.migrations.rls_0002.functions import DENY, GUARD_USERS
from queueit.migrations.rls_0002.names import MY_SESSION, SYSTEM_ROLE, UID, USER_ROLE, VIEWING
from queueit.migrations.rls_0002.policies import POLICIES

PRESENTED_CODE = """
CREATE OR REPLACE FUNCTION queueit_rls.presented_code() RETURNS text
LANGUAGE sql STABLE SET search_path = '' AS $fn$
  SELECT nullif(current_setting('queueit.join_code', true), '')
$fn$"""

# SECURITY DEFINER (owned by queueit_system): reads the party past the caller's policies and
# answers yes or no.
MAY_JOIN = (
    "may_join(sid uuid)",
    "boolean",
    "SELECT EXISTS (SELECT 1 FROM public.sessions s WHERE s.id = sid AND s.ended_at IS NULL"
    " AND (s.host_id = auth.uid() OR s.join_code = queueit_rls.presented_code()))",
)

# Whether a party id exists and is active, for anyone signed in: ids are not secret (a TV link
# carries one), so a non-member asking by id gets 403 `not_member`, not a 404 that would
# differ from SQLite. Never its code, host or anything else.
PARTY_STATE = (
    "party_state(sid uuid)",
    "text",
    "SELECT CASE WHEN s.ended_at IS NULL THEN 'active' ELSE 'ended' END"
    " FROM public.sessions s WHERE s.id = sid",
)
DEFINERS = (MAY_JOIN, PARTY_STATE)

OLD_JOIN_RULE = (
    "AND NOT queueit_rls.is_active(NEW.current_session_id) THEN\n"
    f"        {DENY} 'rls: only an active party can be joined';"
)
NEW_JOIN_RULE = (
    "AND NOT queueit_rls.may_join(NEW.current_session_id) THEN\n"
    f"        {DENY} 'rls: a party is joined with its code (or by its host), and only while active';"
)
# Crowd skip trusts when and from where a member joined (docs/DOMAIN.md "Crowds and
# addresses"): the member may not rewrite them later (e.g. backdate joined_at), and a host
# releasing members may not touch them either.
BEFORE_PREVIOUS = "    IF NEW.previous_session_id IS DISTINCT FROM OLD.previous_session_id\n"
JOIN_FACTS_RULE = (
    "    IF (NEW.joined_at, NEW.join_address) IS DISTINCT FROM (OLD.joined_at, OLD.join_address)\n"
    "       AND NEW.current_session_id IS NOT DISTINCT FROM OLD.current_session_id THEN\n"
    f"      {DENY} 'rls: the join time and address change only by joining';\n"
    "    END IF;\n"
)
OLD_RELEASED = (
    "NEW.is_anonymous, NEW.last_active_at)",
    "OLD.storefront, OLD.is_anonymous, OLD.last_active_at)",
)
NEW_RELEASED = (
    "NEW.is_anonymous, NEW.last_active_at, NEW.joined_at, NEW.join_address)",
    "OLD.storefront, OLD.is_anonymous, OLD.last_active_at, OLD.joined_at, OLD.join_address)",
)
for _fragment in (OLD_JOIN_RULE, BEFORE_PREVIOUS, *OLD_RELEASED):
    assert GUARD_USERS.count(_fragment) == 1, "rls_0002's guard_users changed; update rls_0004"
GUARD_USERS_0004 = (
    GUARD_USERS.replace(OLD_JOIN_RULE, NEW_JOIN_RULE)
    .replace(BEFORE_PREVIOUS, JOIN_FACTS_RULE + BEFORE_PREVIOUS)
    .replace(OLD_RELEASED[0], NEW_RELEASED[0])
    .replace(OLD_RELEASED[1], NEW_RELEASED[1])
)

SESSIONS_SELECT = "sessions_select_party"
SESSIONS_SELECT_0002 = next(policy[3] or "" for policy in POLICIES if policy[0] == SESSIONS_SELECT)
SESSIONS_SELECT_0004 = (
    f"({UID} IS NOT NULL AND (host_id = {UID} OR id = {MY_SESSION}"
    " OR queueit_rls.noted('sessions', id)"
    " OR (ended_at IS NULL AND join_code = (SELECT queueit_rls.presented_code()))))"
    f" OR id = {VIEWING}"
)


def _policy(using: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {SESSIONS_SELECT} ON public.sessions",
        f"CREATE POLICY {SESSIONS_SELECT} ON public.sessions FOR SELECT TO {USER_ROLE}"
        f" USING ({using})",
    ]


def _grant(signature: str) -> list[str]:
    return [
        f"REVOKE ALL ON FUNCTION queueit_rls.{signature} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION queueit_rls.{signature} TO {USER_ROLE}, {SYSTEM_ROLE}",
    ]


def upgrade_statements() -> list[str]:
    statements = [PRESENTED_CODE, *_grant("presented_code()")]
    statements.append(f"GRANT CREATE ON SCHEMA queueit_rls TO {SYSTEM_ROLE}")
    for signature, returns, body in DEFINERS:
        statements += [
            f"CREATE OR REPLACE FUNCTION queueit_rls.{signature} RETURNS {returns}"
            f" LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $fn$ {body} $fn$",
            f"ALTER FUNCTION queueit_rls.{signature} OWNER TO {SYSTEM_ROLE}",
            *_grant(signature),
        ]
    statements.append(f"REVOKE CREATE ON SCHEMA queueit_rls FROM {SYSTEM_ROLE}")
    return [*statements, GUARD_USERS_0004, *_policy(SESSIONS_SELECT_0004)]


def downgrade_statements() -> list[str]:
    return [
        *_policy(SESSIONS_SELECT_0002),
        GUARD_USERS,
        *(f"DROP FUNCTION IF EXISTS queueit_rls.{d[0]}" for d in DEFINERS),
        "DROP FUNCTION IF EXISTS queueit_rls.presented_code()",
    ]
