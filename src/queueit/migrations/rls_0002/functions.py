"""Helper functions (SECURITY DEFINER and INVOKER) and the guard triggers."""

from __future__ import annotations

from queueit.migrations.rls_0002.names import SYSTEM_ROLE

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
