"""Co-hosts and bans under row-level security (docs/RLS.md "Party roles and bans").

- `queueit_rls.co_hosts(sid)` (SECURITY DEFINER): the caller co-hosts the active party `sid`
  and is in it. `queueit_rls.manages(sid)`: hosts it or co-hosts it.
- guard_sessions: a co-host changes what the host changes (lock, pause, the current song,
  the version), except ending the party, which stays the host's.
- guard_queued_songs: a co-host finishes, skips and removes songs as the host does.
- party_roles: members read their party's; only the host grants or revokes (the hand-over
  itself is the server's write, queueit_system). party_bans: members read their party's; the
  host and co-hosts ban (as themselves) and lift bans."""

from __future__ import annotations

from queueit.migrations.rls_0002.functions import DENY, GUARD_QUEUED_SONGS, GUARD_SESSIONS
from queueit.migrations.rls_0002.names import SHOWN, SYSTEM_ROLE, UID, USER_ROLE

TABLES = ("party_roles", "party_bans")

DEFINERS = (
    (
        "co_hosts(sid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.party_roles r"
        " JOIN public.users u ON u.id = r.user_id JOIN public.sessions s ON s.id = r.session_id"
        " WHERE r.session_id = sid AND r.user_id = auth.uid() AND r.role = 'co_host'"
        " AND u.current_session_id = sid AND s.ended_at IS NULL)",
    ),
    (
        "manages(sid uuid)",
        "boolean",
        "SELECT queueit_rls.hosts(sid) OR queueit_rls.co_hosts(sid)",
    ),
)

OLD_IS_HOST = "  is_host := coalesce(OLD.host_id = auth.uid(), false);\n"
NEW_IS_HOST = (
    "  is_host := coalesce(OLD.host_id = auth.uid(), false) OR queueit_rls.co_hosts(OLD.id);\n"
)
BEFORE_NOT_HOST = "  IF NOT is_host THEN\n"
HOST_ENDS = (
    "  IF (NEW.ended_at, NEW.end_reason) IS DISTINCT FROM (OLD.ended_at, OLD.end_reason)\n"
    "     AND NOT coalesce(OLD.host_id = auth.uid(), false) THEN\n"
    f"    {DENY} 'rls: only the host ends a party';\n"
    "  END IF;\n"
)
OLD_SONG_HOST = "    IF NOT queueit_rls.hosts(OLD.session_id) THEN\n"
NEW_SONG_HOST = "    IF NOT queueit_rls.manages(OLD.session_id) THEN\n"
for _text, _fragment in (
    (GUARD_SESSIONS, OLD_IS_HOST),
    (GUARD_SESSIONS, BEFORE_NOT_HOST),
    (GUARD_QUEUED_SONGS, OLD_SONG_HOST),
):
    assert _text.count(_fragment) == 1, "rls_0002's guards changed; update rls_0006"
GUARD_SESSIONS_0006 = GUARD_SESSIONS.replace(OLD_IS_HOST, NEW_IS_HOST).replace(
    BEFORE_NOT_HOST, HOST_ENDS + BEFORE_NOT_HOST
)
GUARD_QUEUED_SONGS_0006 = GUARD_QUEUED_SONGS.replace(OLD_SONG_HOST, NEW_SONG_HOST)

READ = f"user_id = {UID} OR queueit_rls.party_access(session_id) OR session_id = {SHOWN}"
# (name, table, command, USING, WITH CHECK) for queueit_user.
POLICIES: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    ("party_roles_select_party", "party_roles", "SELECT", READ, None),
    (
        "party_roles_insert_host",
        "party_roles",
        "INSERT",
        None,
        "queueit_rls.hosts(session_id) AND role = 'co_host'",
    ),
    ("party_roles_delete_host", "party_roles", "DELETE", "queueit_rls.hosts(session_id)", None),
    ("party_bans_select_party", "party_bans", "SELECT", READ, None),
    (
        "party_bans_insert_manager",
        "party_bans",
        "INSERT",
        None,
        f"queueit_rls.manages(session_id) AND banned_by = {UID}",
    ),
    (
        "party_bans_delete_manager",
        "party_bans",
        "DELETE",
        "queueit_rls.manages(session_id)",
        None,
    ),
)


def _grant(signature: str) -> list[str]:
    return [
        f"REVOKE ALL ON FUNCTION queueit_rls.{signature} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION queueit_rls.{signature} TO {USER_ROLE}, {SYSTEM_ROLE}",
    ]


def upgrade_statements() -> list[str]:
    statements = [f"GRANT CREATE ON SCHEMA queueit_rls TO {SYSTEM_ROLE}"]
    for signature, returns, body in DEFINERS:
        statements += [
            f"CREATE OR REPLACE FUNCTION queueit_rls.{signature} RETURNS {returns}"
            f" LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $fn$ {body} $fn$",
            f"ALTER FUNCTION queueit_rls.{signature} OWNER TO {SYSTEM_ROLE}",
            *_grant(signature),
        ]
    statements.append(f"REVOKE CREATE ON SCHEMA queueit_rls FROM {SYSTEM_ROLE}")
    for table in TABLES:
        statements += [
            f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE public.{table} FORCE ROW LEVEL SECURITY",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO {SYSTEM_ROLE}",
            f"GRANT SELECT, INSERT, DELETE ON public.{table} TO {USER_ROLE}",
            f"CREATE POLICY {table}_system ON public.{table} FOR ALL TO {SYSTEM_ROLE}"
            " USING (true) WITH CHECK (true)",
        ]
    for name, table, command, using, check in POLICIES:
        clauses = f" USING ({using})" if using else ""
        clauses += f" WITH CHECK ({check})" if check else ""
        statements.append(
            f"CREATE POLICY {name} ON public.{table} FOR {command} TO {USER_ROLE}{clauses}"
        )
    return [*statements, GUARD_SESSIONS_0006, GUARD_QUEUED_SONGS_0006]


def downgrade_statements() -> list[str]:
    """Before the tables are dropped: the guards as 0002 wrote them, the helpers gone."""
    return [
        GUARD_SESSIONS,
        GUARD_QUEUED_SONGS,
        *(f"DROP POLICY IF EXISTS {name} ON public.{table}" for name, table, *_ in POLICIES),
        *(f"DROP POLICY IF EXISTS {table}_system ON public.{table}" for table in TABLES),
        *(f"REVOKE ALL ON public.{table} FROM {USER_ROLE}, {SYSTEM_ROLE}" for table in TABLES),
        "DROP FUNCTION IF EXISTS queueit_rls.manages(uuid)",
        "DROP FUNCTION IF EXISTS queueit_rls.co_hosts(uuid)",
    ]
