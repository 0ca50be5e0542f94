"""`queueit_rls.cast_vote(...)`: the common case of POST/DELETE /songs/{id}/vote in one
statement, PostgreSQL's fast twin of party/voting.py `vote` (docs/RLS.md "A vote in one
statement"). party/voting.py stays the rule's definition; this function settles only the
cases where it can tell, from the rows alone, that the rule accepts the vote, and answers
`defer` (having written nothing) for every other case, for the general path to decide
exactly as it always did, with its own errors.

SECURITY INVOKER, like caller_current (migration 0008): it first applies the caller's claims,
subject and `role` = queueit_user (transaction-local, as core/rls.py's `_APPLY`), so every
query and write after that runs under the policies and the guard triggers of migrations
0002-0006, as in a unit of work. Called alone, in its statement's implicit transaction: the
settings and the row locks end with the statement.

It SETTLES (writes and answers `cast`, or answers `unchanged` for a re-cast vote) only when
all of these hold, checked in the general path's order:
- the caller's user row is visible (users.service.current_user would neither provision it nor
  check a deleted account), is not a guest's row read with a full account's token (the
  upgrade), and was active since `active_since` (no presence write due);
- the row names a party that the policies show, locked FOR UPDATE (guards.
  locked_party_to_vote_in), and that has not ended;
- the queued song is that party's, row-locked with the caller's vote (vote_repository.
  lock_ballot), and is still `queued`;
- the stored vote mode allows the value (`up_down`, or `up_only` for +1; a withdrawal always);
- a downvote is not under a guests' per-hour limit: no `downvotes_per_hour` stored, or the
  caller hosts the party, or the caller's vote is -1 already;
- the address cap (`members_counted_per_address`, the server's setting) does not apply: 0, or
  no join address, or the host, or a vote already there, or a withdrawal, or fewer other
  votes on the song from that address than the cap (no host-network check needed);
- a vote that lowers the total does so in a party whose `auto_remove` is not on.

Then it writes what change_of + vote_repository.record_and_bump write: the vote row (upsert,
or delete for a withdrawal), the song's total by the delta with `entered_tier_by_gain`
(delta > 0), `last_entered_tier_at` = `cast_at` and `is_fallback` (kept unless an upvote), and the
party's version + 1 with `last_activity_at` = `cast_at`; and answers the party, the new total and
tier time, the fallback flag and the version (votes.updated's data and the response).

It DEFERS (no write) on everything else: no user row, the guest upgrade, a presence write
due, no party or one hidden or ended, a song missing or not the party's, a song no longer
queued, voting off or downvotes off, a guest's downvote under a limit (the count and its
Retry-After are Python's), the address cap reached (the host-network check is Python's), a
lowering vote with auto-remove on (the count of members present is Python's), and stored
settings it does not read plainly (a mode it does not know: the general path reads them
through party/rules.settings_of). Deferring is always safe: the general path decides.
"""

from __future__ import annotations

# ruff: noqa: S608 -- every statement is assembled from constants, no input.
from queueit.migrations.rls_0002.names import UID, USER_ROLE

SIGNATURE = (
    "queueit_rls.cast_vote(claims text, sub text, claims_anonymous boolean, ballot_id uuid,"
    " vote_value integer, cast_at timestamptz, active_since timestamptz, address_cap integer)"
)

FUNCTION = f"""
CREATE OR REPLACE FUNCTION {SIGNATURE}
RETURNS TABLE (
  outcome text,
  party_id uuid,
  total integer,
  last_entered_tier_at timestamptz,
  is_fallback boolean,
  entered_tier_by_gain boolean,
  version integer
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
  me record;
  party record;
  ballot record;
  rules jsonb;
  voting_mode text;
  delta integer;
  others integer;
BEGIN
  PERFORM set_config('request.jwt.claims', claims, true),
          set_config('request.jwt.claim.sub', sub, true),
          set_config('role', '{USER_ROLE}', true);
  SELECT u.id, u.is_anonymous, u.current_session_id, u.last_active_at, u.join_address
    INTO me FROM public.users u WHERE u.id = {UID};
  IF NOT FOUND OR (me.is_anonymous AND NOT claims_anonymous)
     OR me.last_active_at < active_since OR me.current_session_id IS NULL THEN
    RETURN QUERY SELECT 'defer:caller', NULL::uuid, NULL::integer, NULL::timestamptz,
                        NULL::boolean, NULL::boolean, NULL::integer;
    RETURN;
  END IF;
  SELECT s.id, s.host_id, s.ended_at, s.settings INTO party
    FROM public.sessions s WHERE s.id = me.current_session_id FOR UPDATE;
  IF NOT FOUND OR party.ended_at IS NOT NULL THEN
    RETURN QUERY SELECT 'defer:party', NULL::uuid, NULL::integer, NULL::timestamptz,
                        NULL::boolean, NULL::boolean, NULL::integer;
    RETURN;
  END IF;
  SELECT q.status, q.votes, q.is_fallback, v.value::integer AS existing INTO ballot
    FROM public.queued_songs q
    LEFT JOIN public.votes v ON v.queued_song_id = q.id AND v.user_id = me.id
    WHERE q.id = ballot_id AND q.session_id = party.id
    FOR UPDATE OF q;
  IF NOT FOUND OR ballot.status <> 'queued' THEN
    RETURN QUERY SELECT 'defer:song', NULL::uuid, NULL::integer, NULL::timestamptz,
                        NULL::boolean, NULL::boolean, NULL::integer;
    RETURN;
  END IF;
  rules := coalesce(party.settings::jsonb, '{{}}'::jsonb);
  voting_mode := coalesce(rules->>'vote_mode', 'up_down');
  delta := coalesce(vote_value, 0) - coalesce(ballot.existing, 0);
  IF jsonb_typeof(rules) <> 'object' OR (vote_value IS NOT NULL AND NOT (
       voting_mode = 'up_down' OR (voting_mode = 'up_only' AND vote_value = 1))) THEN
    RETURN QUERY SELECT 'defer:mode', NULL::uuid, NULL::integer, NULL::timestamptz,
                        NULL::boolean, NULL::boolean, NULL::integer;
    RETURN;
  END IF;
  IF vote_value = -1 AND coalesce(rules->'downvotes_per_hour', 'null'::jsonb) <> 'null'::jsonb
     AND me.id IS DISTINCT FROM party.host_id AND ballot.existing IS DISTINCT FROM -1 THEN
    RETURN QUERY SELECT 'defer:downvote_limit', NULL::uuid, NULL::integer, NULL::timestamptz,
                        NULL::boolean, NULL::boolean, NULL::integer;
    RETURN;
  END IF;
  IF vote_value IS NOT NULL AND address_cap > 0 AND me.join_address IS NOT NULL
     AND me.id IS DISTINCT FROM party.host_id AND ballot.existing IS NULL THEN
    SELECT count(*) INTO others FROM public.votes v
      JOIN public.users o ON o.id = v.user_id
      WHERE v.queued_song_id = ballot_id AND v.user_id <> me.id
        AND o.join_address = me.join_address;
    IF others >= address_cap THEN
      RETURN QUERY SELECT 'defer:address_cap', NULL::uuid, NULL::integer, NULL::timestamptz,
                          NULL::boolean, NULL::boolean, NULL::integer;
      RETURN;
    END IF;
  END IF;
  IF delta < 0 AND coalesce(rules->'auto_remove', 'false'::jsonb)
                   NOT IN ('false'::jsonb, 'null'::jsonb) THEN
    RETURN QUERY SELECT 'defer:auto_remove', NULL::uuid, NULL::integer, NULL::timestamptz,
                        NULL::boolean, NULL::boolean, NULL::integer;
    RETURN;
  END IF;
  IF ballot.existing IS NOT DISTINCT FROM vote_value THEN
    RETURN QUERY SELECT 'unchanged', party.id, ballot.votes, NULL::timestamptz,
                        ballot.is_fallback, NULL::boolean, NULL::integer;
    RETURN;
  END IF;
  -- The vote row first, by a statement of its own: the guard on queued_songs checks the new
  -- total against the vote rows it can see (docs/RLS.md), as vote_repository writes them.
  IF vote_value IS NULL THEN
    DELETE FROM public.votes v WHERE v.queued_song_id = ballot_id AND v.user_id = me.id;
  ELSE
    INSERT INTO public.votes AS v (queued_song_id, user_id, value, created_at, updated_at)
      VALUES (ballot_id, me.id, vote_value, cast_at, cast_at)
      ON CONFLICT (queued_song_id, user_id)
      DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;
  END IF;
  RETURN QUERY
  WITH song AS (
    UPDATE public.queued_songs q
      SET votes = q.votes + delta,
          entered_tier_by_gain = delta > 0,
          last_entered_tier_at = cast_at,
          is_fallback = ballot.is_fallback AND vote_value IS DISTINCT FROM 1
      WHERE q.id = ballot_id
      RETURNING q.votes, q.last_entered_tier_at, q.is_fallback, q.entered_tier_by_gain
  ), bumped AS (
    UPDATE public.sessions s SET version = s.version + 1, last_activity_at = cast_at
      WHERE s.id = party.id
      RETURNING s.version
  )
  SELECT 'cast', party.id, song.votes, song.last_entered_tier_at, song.is_fallback,
         song.entered_tier_by_gain, bumped.version
  FROM song, bumped;
  IF NOT FOUND THEN  -- a row the policies would not update: undo the vote row too
    RAISE EXCEPTION 'cast_vote: the song or the party could not be updated'
      USING ERRCODE = 'P0001';
  END IF;
END
$fn$"""


def upgrade_statements() -> list[str]:
    return [
        FUNCTION,
        # Only the server calls it (the owner, as for caller_current); never PUBLIC.
        f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC",
        f"COMMENT ON FUNCTION {SIGNATURE} IS 'QueueIT migration 0009: a vote''s common case"
        " in one statement, as queueit_user; defers the rest to party/voting.py (docs/RLS.md).'",
    ]


def downgrade_statements() -> list[str]:
    return [f"DROP FUNCTION IF EXISTS {SIGNATURE}"]
