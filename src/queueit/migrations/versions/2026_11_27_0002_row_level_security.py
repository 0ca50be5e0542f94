"""Row-level security on PostgreSQL: a second wall behind the service checks (docs/RLS.md).

Nothing happens on SQLite. On PostgreSQL every table gets RLS (forced, since the app may log in
as the table owner) and policies that say what the services do, in terms of `auth.uid()`:

- `queueit_user` is what user requests run as (`SET LOCAL ROLE` plus the caller's claims in
  `request.jwt.claims`, per transaction). Its policies follow the membership rules.
- `queueit_system` is what the server's own work runs as (idle expiry); it may do anything to
  these tables. It also owns the SECURITY DEFINER helpers in schema `queueit_rls`, which answer
  one narrow question about the caller each ("which party am I in?"), so policies can look
  at other tables without recursing into those tables' own policies.
- Policies cannot compare a row before and after an UPDATE, so three BEFORE UPDATE triggers
  (`queueit_rls.guard_*`, for every role without queueit_system's rights) hold the rules that
  need both: who may change which session columns, the queue status lifecycle, vote totals
  that must equal the sum of the votes. Column-level grants keep identity columns (ids, join
  code, host, creation times) out of reach of UPDATE altogether.
- A user who leaves a party, or withdraws a vote in a party they already left (account
  deletion), still has to finish that change: bump the party's version, recount its
  participants. Triggers note such parties (and songs) in transaction-local settings
  (`queueit.rls_sessions`, `queueit.rls_songs`); the policies honour them until the
  transaction ends, and never after.

Roles are created when absent and granted to the migrating role (`GRANT ... TO CURRENT_USER`)
so the app's login role can `SET ROLE`. `auth.uid()` is Supabase's when it exists; on plain
PostgreSQL a compatible one is created. Everything created here carries a COMMENT marker, so
the downgrade removes only what this migration made (roles only when nothing else uses them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

# ruff: noqa: S608 -- every statement is assembled from this module's constants, no input.

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

USER_ROLE = "queueit_user"
SYSTEM_ROLE = "queueit_system"
ROLES = (USER_ROLE, SYSTEM_ROLE)
MARKER = "QueueIT migration 0002 (row-level security) created this; its downgrade removes it."
TABLES = (
    "users",
    "deleted_accounts",
    "sessions",
    "songs",
    "queued_songs",
    "votes",
    "skip_requests",
)

# What queueit_user may touch at all; the policies below narrow it to rows. UPDATE is granted
# per column: what a service may change, never ids, join codes, hosts or creation times.
USER_GRANTS = {
    "users": (
        "SELECT, INSERT, DELETE",
        "username, display_name, music_provider, storefront, is_anonymous,"
        " current_session_id, previous_session_id, last_active_at",
    ),
    "deleted_accounts": ("SELECT, INSERT, DELETE", ""),
    "sessions": (
        "SELECT, INSERT",
        "is_locked, is_paused, current_song_id, last_skip_was_crowdsourced, version,"
        " last_activity_at, ended_at, end_reason",
    ),
    "songs": (
        "SELECT, INSERT",
        "source, provider_id, isrc, name, artists, album, duration_ms, image_url, explicit",
    ),
    "queued_songs": (
        "SELECT, INSERT, DELETE",
        "status, votes, entered_tier_by_gain, last_entered_tier_at, started_at, finished_at",
    ),
    "votes": ("SELECT, INSERT, DELETE", "value, updated_at"),
    "skip_requests": ("SELECT, INSERT, DELETE", ""),
}

AUTH_UID_BODY = """
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $fn$
  SELECT nullif(coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub'
  ), '')::uuid
$fn$"""

UID = "(SELECT auth.uid())"
MY_SESSION = "(SELECT queueit_rls.my_session_id())"
# The party on screen: the caller's, or the one a TV link shows (reads only).
SHOWN = "(SELECT queueit_rls.shown_party())"
VIEWING = "(SELECT queueit_rls.viewing())"

# SECURITY DEFINER helpers, owned by queueit_system: (signature, return type, body). Each reads
# what a policy needs past the caller's own policies (no recursion) and answers one narrow
# question with a yes/no or an id, never rows.
DEFINER_HELPERS = (
    (
        "my_session_id()",
        "uuid",
        "SELECT u.current_session_id FROM public.users u WHERE u.id = auth.uid()",
    ),
    (
        # The service's rule: an account (the profile, or a token that upgrades it in this
        # very request) with a music provider.
        "can_host()",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.users u WHERE u.id = auth.uid()"
        " AND u.music_provider <> 'none'"
        " AND (NOT u.is_anonymous OR NOT queueit_rls.claims_anonymous()))",
    ),
    (
        "shown_party_host()",
        "uuid",
        "SELECT s.host_id FROM public.sessions s WHERE s.id = CASE WHEN auth.uid() IS NULL"
        " THEN queueit_rls.viewing() ELSE queueit_rls.my_session_id() END",
    ),
    (
        "hosts(sid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.sessions s WHERE s.id = sid"
        " AND s.host_id = auth.uid() AND s.ended_at IS NULL)",
    ),
    (
        "is_active(sid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.sessions s WHERE s.id = sid AND s.ended_at IS NULL)",
    ),
    (
        "may_add(sid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.sessions s WHERE s.id = sid"
        " AND s.id = queueit_rls.my_session_id() AND s.ended_at IS NULL"
        " AND (NOT s.is_locked OR s.host_id = auth.uid()))",
    ),
    (
        "song_session(qsid uuid)",
        "uuid",
        "SELECT q.session_id FROM public.queued_songs q WHERE q.id = qsid",
    ),
    (
        "votable(qsid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.queued_songs q JOIN public.sessions s"
        " ON s.id = q.session_id WHERE q.id = qsid AND q.status = 'queued'"
        " AND s.ended_at IS NULL AND s.id = queueit_rls.my_session_id())",
    ),
    (
        "is_playing(qsid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.queued_songs q"
        " WHERE q.id = qsid AND q.status = 'playing')",
    ),
    (
        "is_playing_in(qsid uuid, sid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.queued_songs q"
        " WHERE q.id = qsid AND q.session_id = sid AND q.status = 'playing')",
    ),
    (
        "skippable(qsid uuid, sid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.sessions s WHERE s.id = sid"
        " AND s.current_song_id = qsid AND s.ended_at IS NULL"
        " AND s.id = queueit_rls.my_session_id())",
    ),
    (
        "voted_on(qsid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.votes v"
        " WHERE v.queued_song_id = qsid AND v.user_id = auth.uid())",
    ),
    (
        "votes_from_others(qsid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.votes v"
        " WHERE v.queued_song_id = qsid AND v.user_id IS DISTINCT FROM auth.uid())",
    ),
    (
        "vote_total(qsid uuid)",
        "integer",
        "SELECT coalesce(sum(v.value), 0)::integer FROM public.votes v"
        " WHERE v.queued_song_id = qsid",
    ),
    (
        "requested_skip(qsid uuid)",
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM public.skip_requests r"
        " WHERE r.queued_song_id = qsid AND r.user_id = auth.uid())",
    ),
)

# Invoker helpers reading only the transaction's settings (created before the definer ones).
INVOKER_HELPERS = (
    """
CREATE OR REPLACE FUNCTION queueit_rls.claims_anonymous() RETURNS boolean
LANGUAGE sql STABLE SET search_path = '' AS $fn$
  SELECT coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb
    ->> 'is_anonymous', 'true') <> 'false'
$fn$""",
    """
CREATE OR REPLACE FUNCTION queueit_rls.viewing() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $fn$
  SELECT nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb
    ->> 'queueit_tv_session', '')::uuid
$fn$""",
    """
CREATE OR REPLACE FUNCTION queueit_rls.noted(kind text, id uuid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = '' AS $fn$
  SELECT id IS NOT NULL AND strpos(
    coalesce(current_setting('queueit.rls_' || kind, true), ''), id::text) > 0
$fn$""",
    """
CREATE OR REPLACE FUNCTION queueit_rls.note(kind text, id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = '' AS $fn$
BEGIN
  IF id IS NOT NULL AND NOT queueit_rls.noted(kind, id) THEN
    PERFORM set_config('queueit.rls_' || kind,
      coalesce(current_setting('queueit.rls_' || kind, true), '') || id::text || ' ', true);
  END IF;
END
$fn$""",
)

# The party a TV link shows when there is no user (UnitOfWork.act_as_viewer), else the
# caller's. Used by SELECT policies only: a viewer reads one party and writes nothing.
SHOWN_PARTY = """
CREATE OR REPLACE FUNCTION queueit_rls.shown_party() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $fn$
  SELECT CASE WHEN auth.uid() IS NULL THEN queueit_rls.viewing()
    ELSE queueit_rls.my_session_id() END
$fn$"""

# The caller's party: the one they are in, one they host, or one this transaction noted. Never
# NULL (a trigger's `IF NOT ...` would let NULL through).
PARTY_ACCESS = """
CREATE OR REPLACE FUNCTION queueit_rls.party_access(sid uuid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = '' AS $fn$
  SELECT sid IS NOT NULL AND (coalesce(sid = queueit_rls.my_session_id(), false)
    OR queueit_rls.hosts(sid) OR queueit_rls.noted('sessions', sid))
$fn$"""

DENY = "RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = "

GUARD_USERS = f"""
CREATE OR REPLACE FUNCTION queueit_rls.guard_users() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $fn$
BEGIN
  IF pg_has_role('{SYSTEM_ROLE}', 'USAGE') THEN RETURN NEW; END IF;
  IF OLD.id = auth.uid() THEN
    IF NEW.is_anonymous IS DISTINCT FROM OLD.is_anonymous
       AND (NEW.is_anonymous OR queueit_rls.claims_anonymous()) THEN
      {DENY} 'rls: only a non-anonymous token upgrades a guest';
    END IF;
    IF NEW.current_session_id IS DISTINCT FROM OLD.current_session_id THEN
      IF NEW.current_session_id IS NOT NULL
         AND NOT queueit_rls.is_active(NEW.current_session_id) THEN
        {DENY} 'rls: only an active party can be joined';
      END IF;
      PERFORM queueit_rls.note('sessions', OLD.current_session_id);
    END IF;
    IF NEW.previous_session_id IS DISTINCT FROM OLD.previous_session_id
       AND NEW.previous_session_id IS DISTINCT FROM OLD.current_session_id THEN
      {DENY} 'rls: previous_session_id records the party just left';
    END IF;
    RETURN NEW;
  END IF;
  -- Another user's row (policy users_update_release): the host ending the party releases
  -- its members, and changes nothing else about them.
  IF NEW.current_session_id IS NOT NULL
     OR NEW.previous_session_id IS DISTINCT FROM OLD.current_session_id
     OR (NEW.username, NEW.display_name, NEW.music_provider, NEW.storefront,
         NEW.is_anonymous, NEW.last_active_at)
        IS DISTINCT FROM (OLD.username, OLD.display_name, OLD.music_provider,
         OLD.storefront, OLD.is_anonymous, OLD.last_active_at) THEN
    {DENY} 'rls: a host may only release the members of the party';
  END IF;
  RETURN NEW;
END
$fn$"""

GUARD_SESSIONS = f"""
CREATE OR REPLACE FUNCTION queueit_rls.guard_sessions() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $fn$
DECLARE
  is_host boolean;
  advancing boolean;
BEGIN
  IF pg_has_role('{SYSTEM_ROLE}', 'USAGE') THEN RETURN NEW; END IF;
  is_host := coalesce(OLD.host_id = auth.uid(), false);
  advancing := NEW.current_song_id IS DISTINCT FROM OLD.current_song_id;
  IF NEW.version < OLD.version THEN
    {DENY} 'rls: a session version never goes back';
  END IF;
  IF NOT is_host THEN
    IF (NEW.is_locked, NEW.is_paused, NEW.ended_at, NEW.end_reason)
       IS DISTINCT FROM (OLD.is_locked, OLD.is_paused, OLD.ended_at, OLD.end_reason) THEN
      {DENY} 'rls: only the host locks, pauses or ends a party';
    END IF;
    IF advancing OR NEW.last_skip_was_crowdsourced IS DISTINCT FROM OLD.last_skip_was_crowdsourced
    THEN
      -- Autoplay after an add, or a crowd skip: members advance their own party only.
      IF NOT advancing OR OLD.id IS DISTINCT FROM queueit_rls.my_session_id() THEN
        {DENY} 'rls: only the host or a member advancing the queue changes the current song';
      END IF;
    ELSIF NOT queueit_rls.party_access(OLD.id) THEN
      {DENY} 'rls: not a member of this party';
    END IF;
  END IF;
  IF advancing THEN
    IF OLD.current_song_id IS NOT NULL AND queueit_rls.is_playing(OLD.current_song_id) THEN
      {DENY} 'rls: the current song must be finished before the next one starts';
    END IF;
    IF NEW.current_song_id IS NOT NULL
       AND NOT queueit_rls.is_playing_in(NEW.current_song_id, OLD.id) THEN
      {DENY} 'rls: the current song must be a song playing in this party';
    END IF;
  END IF;
  RETURN NEW;
END
$fn$"""

GUARD_QUEUED_SONGS = f"""
CREATE OR REPLACE FUNCTION queueit_rls.guard_queued_songs() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $fn$
BEGIN
  IF pg_has_role('{SYSTEM_ROLE}', 'USAGE') THEN RETURN NEW; END IF;
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NOT ((OLD.status = 'queued' AND NEW.status IN ('playing', 'removed'))
            OR (OLD.status = 'playing' AND NEW.status IN ('played', 'skipped'))) THEN
      {DENY} 'rls: a queued song only moves forward (queued, playing, played or skipped)';
    END IF;
    IF NOT queueit_rls.hosts(OLD.session_id) THEN
      IF OLD.session_id IS DISTINCT FROM queueit_rls.my_session_id() THEN
        {DENY} 'rls: not a member of this party';
      ELSIF NEW.status = 'played' THEN
        {DENY} 'rls: only the host finishes songs';
      ELSIF NEW.status = 'skipped' AND NOT queueit_rls.requested_skip(OLD.id) THEN
        {DENY} 'rls: a member skips a song only through their own skip request';
      ELSIF NEW.status = 'removed' AND (OLD.added_by_id IS DISTINCT FROM auth.uid()
            OR queueit_rls.votes_from_others(OLD.id)) THEN
        {DENY} 'rls: only the host, or the adder while nobody else voted, removes a song';
      END IF;
    END IF;
  ELSIF (NEW.started_at, NEW.finished_at) IS DISTINCT FROM (OLD.started_at, OLD.finished_at)
  THEN
    {DENY} 'rls: start and finish times change only with the status';
  END IF;
  IF NEW.votes IS DISTINCT FROM OLD.votes THEN
    IF NOT queueit_rls.noted('songs', OLD.id) THEN
      {DENY} 'rls: a vote total changes only with your own vote';
    END IF;
    IF NEW.votes IS DISTINCT FROM queueit_rls.vote_total(OLD.id) THEN
      {DENY} 'rls: a vote total must equal the sum of the votes';
    END IF;
  ELSIF (NEW.entered_tier_by_gain, NEW.last_entered_tier_at)
        IS DISTINCT FROM (OLD.entered_tier_by_gain, OLD.last_entered_tier_at) THEN
    {DENY} 'rls: tier metadata changes only with the vote total';
  END IF;
  RETURN NEW;
END
$fn$"""

NOTE_VOTE = f"""
CREATE OR REPLACE FUNCTION queueit_rls.note_vote() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $fn$
DECLARE
  qsid uuid;
BEGIN
  IF pg_has_role('{SYSTEM_ROLE}', 'USAGE') THEN RETURN NULL; END IF;
  qsid := CASE WHEN TG_OP = 'DELETE' THEN OLD.queued_song_id ELSE NEW.queued_song_id END;
  PERFORM queueit_rls.note('songs', qsid);
  PERFORM queueit_rls.note('sessions', queueit_rls.song_session(qsid));
  RETURN NULL;
END
$fn$"""

TRIGGER_FUNCTIONS = (GUARD_USERS, GUARD_SESSIONS, GUARD_QUEUED_SONGS, NOTE_VOTE)
TRIGGERS = (
    ("users", "queueit_rls_guard", "BEFORE UPDATE", "guard_users"),
    ("sessions", "queueit_rls_guard", "BEFORE UPDATE", "guard_sessions"),
    ("queued_songs", "queueit_rls_guard", "BEFORE UPDATE", "guard_queued_songs"),
    ("votes", "queueit_rls_note", "AFTER INSERT OR UPDATE OR DELETE", "note_vote"),
)

PARTY_QUEUE = (
    f"session_id = {MY_SESSION} OR queueit_rls.party_access(session_id)"
    " OR queueit_rls.voted_on(id) OR queueit_rls.noted('songs', id)"
)

# (name, table, command, USING, WITH CHECK) for queueit_user; None leaves a clause out.
POLICIES: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    (
        "users_select_party",
        "users",
        "SELECT",
        f"id = {UID} OR current_session_id = {SHOWN}"
        " OR queueit_rls.party_access(current_session_id)"
        " OR queueit_rls.party_access(previous_session_id)"
        " OR id = (SELECT queueit_rls.shown_party_host())"
        " OR id IN (SELECT q.added_by_id FROM public.queued_songs q"
        f" WHERE q.session_id = {SHOWN})",
        None,
    ),
    (
        "users_insert_self",
        "users",
        "INSERT",
        None,
        f"id = {UID} AND current_session_id IS NULL AND previous_session_id IS NULL"
        " AND (is_anonymous OR NOT queueit_rls.claims_anonymous())",
    ),
    ("users_update_self", "users", "UPDATE", f"id = {UID}", f"id = {UID}"),
    (
        "users_update_release",
        "users",
        "UPDATE",
        "queueit_rls.hosts(current_session_id)",
        "current_session_id IS NULL AND queueit_rls.hosts(previous_session_id)",
    ),
    ("users_delete_self", "users", "DELETE", f"id = {UID}", None),
    ("deleted_accounts_own", "deleted_accounts", "ALL", f"user_id = {UID}", f"user_id = {UID}"),
    (
        "sessions_select_party",
        "sessions",
        "SELECT",
        # Any active party is readable: joining finds it by code before membership exists.
        f"({UID} IS NOT NULL AND (ended_at IS NULL OR host_id = {UID}"
        f" OR id = {MY_SESSION} OR queueit_rls.noted('sessions', id))) OR id = {VIEWING}",
        None,
    ),
    (
        "sessions_insert_host",
        "sessions",
        "INSERT",
        None,
        f"host_id = {UID} AND queueit_rls.can_host()"
        " AND ended_at IS NULL AND current_song_id IS NULL",
    ),
    (
        "sessions_update_active",
        "sessions",
        "UPDATE",
        f"{UID} IS NOT NULL AND ended_at IS NULL",
        f"{UID} IS NOT NULL",
    ),
    (
        "songs_select_signed_in",
        "songs",
        "SELECT",
        f"{UID} IS NOT NULL OR {VIEWING} IS NOT NULL",
        None,
    ),
    ("songs_insert_adding", "songs", "INSERT", None, f"queueit_rls.may_add({MY_SESSION})"),
    (
        "songs_update_adding",
        "songs",
        "UPDATE",
        f"{UID} IS NOT NULL",
        f"queueit_rls.may_add({MY_SESSION})",
    ),
    (
        "queued_songs_select_party",
        "queued_songs",
        "SELECT",
        f"{PARTY_QUEUE} OR session_id = {VIEWING}",
        None,
    ),
    (
        "queued_songs_insert_member",
        "queued_songs",
        "INSERT",
        None,
        f"added_by_id = {UID} AND status = 'queued' AND votes = 0"
        " AND queueit_rls.may_add(session_id)",
    ),
    ("queued_songs_update_party", "queued_songs", "UPDATE", PARTY_QUEUE, f"{UID} IS NOT NULL"),
    (
        "queued_songs_delete_host",
        "queued_songs",
        "DELETE",
        "queueit_rls.hosts(session_id)",
        None,
    ),
    (
        "votes_select_members",
        "votes",
        "SELECT",
        f"user_id = {UID} OR queueit_rls.party_access(queueit_rls.song_session(queued_song_id))",
        None,
    ),
    (
        "votes_insert_own",
        "votes",
        "INSERT",
        None,
        f"user_id = {UID} AND queueit_rls.votable(queued_song_id)",
    ),
    (
        "votes_update_own",
        "votes",
        "UPDATE",
        f"user_id = {UID}",
        f"user_id = {UID} AND queueit_rls.votable(queued_song_id)",
    ),
    ("votes_delete_own", "votes", "DELETE", f"user_id = {UID}", None),
    (
        "skip_requests_select_party",
        "skip_requests",
        "SELECT",
        f"user_id = {UID} OR session_id = {SHOWN} OR queueit_rls.party_access(session_id)",
        None,
    ),
    (
        "skip_requests_insert_own",
        "skip_requests",
        "INSERT",
        None,
        f"user_id = {UID} AND queueit_rls.skippable(queued_song_id, session_id)",
    ),
    (
        "skip_requests_delete",
        "skip_requests",
        "DELETE",
        f"user_id = {UID} OR (queueit_rls.party_access(session_id)"
        " AND NOT queueit_rls.is_playing(queued_song_id))",
        None,
    ),
)


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if not _is_postgresql():
        return
    _create_roles()
    _create_auth_uid()
    _create_helpers()
    for table in TABLES:
        op.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE public.{table} FORCE ROW LEVEL SECURITY")
    _grant_tables()
    for table, name, timing, function in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} {timing} ON public.{table}"
            f" FOR EACH ROW EXECUTE FUNCTION queueit_rls.{function}()"
        )
    for table in TABLES:
        op.execute(
            f"CREATE POLICY {table}_system ON public.{table} FOR ALL TO {SYSTEM_ROLE}"
            " USING (true) WITH CHECK (true)"
        )
    for name, table, command, using, check in POLICIES:
        clauses = f" USING ({using})" if using else ""
        clauses += f" WITH CHECK ({check})" if check else ""
        op.execute(f"CREATE POLICY {name} ON public.{table} FOR {command} TO {USER_ROLE}{clauses}")


def _create_roles() -> None:
    # Roles are cluster-wide: another database (or a concurrent migration) may have made them.
    for role in ROLES:
        op.execute(
            f"""DO $do$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
    CREATE ROLE {role} NOLOGIN;
    COMMENT ON ROLE {role} IS '{MARKER}';
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $do$"""
        )
    op.execute(f"GRANT {USER_ROLE}, {SYSTEM_ROLE} TO CURRENT_USER")


def _create_auth_uid() -> None:
    """Supabase's auth.uid() is used as it is; elsewhere a compatible one is created (and kept
    current when it is ours)."""
    op.execute(
        f"""DO $do$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
    CREATE SCHEMA auth;
    COMMENT ON SCHEMA auth IS '{MARKER}';
  END IF;
  IF to_regprocedure('auth.uid()') IS NULL
     OR obj_description(to_regprocedure('auth.uid()'), 'pg_proc') = '{MARKER}' THEN
    {AUTH_UID_BODY};
    COMMENT ON FUNCTION auth.uid() IS '{MARKER}';
  END IF;
END $do$"""
    )
    # On Supabase the auth schema belongs to an admin role; without the right to grant, say
    # what to run rather than fail (docs/RLS.md).
    op.execute(
        f"""DO $do$ BEGIN
  GRANT USAGE ON SCHEMA auth TO {USER_ROLE}, {SYSTEM_ROLE};
  GRANT EXECUTE ON FUNCTION auth.uid() TO {USER_ROLE}, {SYSTEM_ROLE};
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'queueit: as an administrator, grant USAGE ON SCHEMA auth and EXECUTE ON'
    ' FUNCTION auth.uid() to {USER_ROLE} and {SYSTEM_ROLE} (docs/RLS.md)';
END $do$"""
    )


def _create_helpers() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS queueit_rls")
    op.execute(f"COMMENT ON SCHEMA queueit_rls IS '{MARKER}'")
    op.execute("REVOKE ALL ON SCHEMA queueit_rls FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA queueit_rls TO {USER_ROLE}, {SYSTEM_ROLE}")
    # The definer helpers belong to queueit_system, whose policies see every row; handing them
    # over needs CREATE on the schema for a moment.
    op.execute(f"GRANT CREATE ON SCHEMA queueit_rls TO {SYSTEM_ROLE}")
    for statement in INVOKER_HELPERS:
        op.execute(statement)
    for signature, returns, body in DEFINER_HELPERS:
        op.execute(
            f"CREATE OR REPLACE FUNCTION queueit_rls.{signature} RETURNS {returns}"
            f" LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $fn$ {body} $fn$"
        )
        op.execute(f"ALTER FUNCTION queueit_rls.{signature} OWNER TO {SYSTEM_ROLE}")
    op.execute(f"REVOKE CREATE ON SCHEMA queueit_rls FROM {SYSTEM_ROLE}")
    for statement in (SHOWN_PARTY, PARTY_ACCESS, *TRIGGER_FUNCTIONS):
        op.execute(statement)
    op.execute("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA queueit_rls FROM PUBLIC")
    op.execute(
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA queueit_rls TO {USER_ROLE}, {SYSTEM_ROLE}"
    )


def _grant_tables() -> None:
    op.execute(f"GRANT USAGE ON SCHEMA public TO {USER_ROLE}, {SYSTEM_ROLE}")
    for table in TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO {SYSTEM_ROLE}")
        privileges, update_columns = USER_GRANTS[table]
        op.execute(f"GRANT {privileges} ON public.{table} TO {USER_ROLE}")
        if update_columns:
            op.execute(f"GRANT UPDATE ({update_columns}) ON public.{table} TO {USER_ROLE}")


def downgrade() -> None:
    if not _is_postgresql():
        return
    for name, table, *_ in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {name} ON public.{table}")
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS {table}_system ON public.{table}")
    for table, name, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON public.{table}")
    for table in TABLES:
        op.execute(f"ALTER TABLE public.{table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE public.{table} DISABLE ROW LEVEL SECURITY")
        op.execute(f"REVOKE ALL ON public.{table} FROM {USER_ROLE}, {SYSTEM_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {USER_ROLE}, {SYSTEM_ROLE}")
    op.execute("DROP SCHEMA IF EXISTS queueit_rls CASCADE")
    op.execute(
        f"""DO $do$ BEGIN
  IF obj_description(to_regprocedure('auth.uid()'), 'pg_proc') = '{MARKER}' THEN
    DROP FUNCTION auth.uid();
  ELSIF to_regprocedure('auth.uid()') IS NOT NULL THEN
    REVOKE EXECUTE ON FUNCTION auth.uid() FROM {USER_ROLE}, {SYSTEM_ROLE};
  END IF;
  IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
    REVOKE USAGE ON SCHEMA auth FROM {USER_ROLE}, {SYSTEM_ROLE};
  END IF;
  IF obj_description((SELECT oid FROM pg_namespace WHERE nspname = 'auth'), 'pg_namespace')
     = '{MARKER}' THEN
    BEGIN
      DROP SCHEMA auth;  -- only while empty: something else may have moved in
    EXCEPTION WHEN dependent_objects_still_exist THEN NULL;
    END;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'queueit: could not remove the grants on schema auth (docs/RLS.md)';
END $do$"""
    )
    # A role is dropped only when this migration made it and nothing in any database (another
    # QueueIT database, say) still depends on it.
    for role in ROLES:
        op.execute(
            f"""DO $do$ BEGIN
  IF shobj_description((SELECT oid FROM pg_roles WHERE rolname = '{role}'), 'pg_authid')
     = '{MARKER}' THEN
    DROP ROLE {role};
  END IF;
EXCEPTION WHEN dependent_objects_still_exist THEN
  RAISE NOTICE 'queueit: role {role} is still in use elsewhere; kept';
END $do$"""
        )
