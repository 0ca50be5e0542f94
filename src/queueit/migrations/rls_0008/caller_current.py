"""`queueit_rls.caller_current(claims, sub)`: what an authenticated GET /sessions/current
needs from the database when the read model holds the party's document, in one statement
(docs/RLS.md "The caller's snapshot in one statement").

SECURITY INVOKER: the function first does what core/rls.py's `_APPLY` does (the claims, the
subject, then `role` = queueit_user, all transaction-local), so every query after it runs as
queueit_user and the policies decide what it sees, exactly as in a unit of work. Called
alone, in its statement's implicit transaction: the settings end with the statement, so
nothing outlives it on a pooled connection.

It answers one row per vote of the caller on a song waiting in their party (one row with
NULL vote columns when none), each with the caller's row (`is_anonymous`,
`current_session_id`, `last_active_at`) and the party's `version`, whether it ended and
whether the caller asked to skip its current song: the user row of users.service
.current_user and the read model's `caller_view` together. No row: the caller's user row is
not there for them (provisioning, a deleted account); NULL party columns: no party, or one
the policies hide."""

from __future__ import annotations

# ruff: noqa: S608 -- every statement is assembled from constants, no input.
from queueit.migrations.rls_0002.names import UID, USER_ROLE

SIGNATURE = "queueit_rls.caller_current(claims text, sub text)"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION {SIGNATURE}
RETURNS TABLE (
  user_is_anonymous boolean,
  user_party_id uuid,
  user_last_active_at timestamptz,
  party_version integer,
  party_ended boolean,
  party_requested_skip boolean,
  vote_song_id uuid,
  vote_value integer
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
BEGIN
  PERFORM set_config('request.jwt.claims', claims, true),
          set_config('request.jwt.claim.sub', sub, true),
          set_config('role', '{USER_ROLE}', true);
  RETURN QUERY
  SELECT u.is_anonymous, u.current_session_id, u.last_active_at, s.version,
         s.ended_at IS NOT NULL,
         EXISTS (SELECT 1 FROM public.skip_requests k
                 WHERE k.queued_song_id = s.current_song_id AND k.user_id = u.id),
         mine.queued_song_id, mine.value::integer
  FROM public.users u
  LEFT JOIN public.sessions s ON s.id = u.current_session_id
  LEFT JOIN LATERAL (
    SELECT v.queued_song_id, v.value FROM public.votes v
    JOIN public.queued_songs q ON q.id = v.queued_song_id
    WHERE v.user_id = u.id AND q.session_id = s.id AND q.status = 'queued'
  ) mine ON true
  WHERE u.id = {UID};
END
$fn$"""


def upgrade_statements() -> list[str]:
    return [
        FUNCTION,
        # Only the server calls it (the owner: the migrating role, as for the other helpers);
        # never PUBLIC, so no other role (e.g. Supabase's `authenticated` through PostgREST)
        # can call it at all.
        f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC",
        f"COMMENT ON FUNCTION {SIGNATURE} IS 'QueueIT migration 0008: the caller''s"
        " GET /sessions/current in one statement, as queueit_user (docs/RLS.md).'",
    ]


def downgrade_statements() -> list[str]:
    return [f"DROP FUNCTION IF EXISTS {SIGNATURE}"]
