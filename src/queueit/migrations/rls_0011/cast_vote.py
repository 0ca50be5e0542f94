"""`queueit_rls.cast_vote(...)` of migration 0009, with one case moved from `defer` to the
statement: a presence write due (docs/RLS.md "A vote in one statement").

users.service.current_user refreshes a caller's `last_active_at` when it is older than
`PRESENCE_WRITE_INTERVAL` (10 s), so in 0009 the first vote of a member after ten quiet
seconds took the general path; under a steady stream of votes that was one vote in every
few dozen, at several times the statement's cost. Now the function writes the same refresh
itself when it settles the vote (`cast` or `unchanged`): `last_active_at` = `cast_at` where
it is still older than `active_since`, exactly what users.repository.touch writes. It does so
only on settling, so a deferral still writes nothing, and the general path refreshes
presence as it always did.

The user row is locked last here (after the party and the song), the general path locks it
first (the refresh comes before the vote); so the refresh takes the row only with
`FOR NO KEY UPDATE SKIP LOCKED` (the lock its UPDATE takes anyway): a transaction holding
the caller's row is that caller's own other request, refreshing presence or changing the row
itself, and waiting for it could deadlock. Skipping costs only this refresh: the caller's
next request writes it."""

from __future__ import annotations

from queueit.migrations.rls_0009 import cast_vote as cast_vote_0009

SIGNATURE = cast_vote_0009.SIGNATURE

DEFER_ON_PRESENCE = (
    "\n     OR me.last_active_at < active_since OR me.current_session_id IS NULL THEN"
)
DEFER_0011 = "\n     OR me.current_session_id IS NULL THEN"
UNCHANGED = "  IF ballot.existing IS NOT DISTINCT FROM vote_value THEN\n"
REFRESH = """  -- Settled from here on: the presence refresh the general path would write (0011).
  IF me.last_active_at < active_since THEN
    UPDATE public.users u SET last_active_at = cast_at
      WHERE u.id = (SELECT x.id FROM public.users x WHERE x.id = me.id
                      FOR NO KEY UPDATE SKIP LOCKED)
        AND u.last_active_at < active_since;
  END IF;
"""
for _fragment in (DEFER_ON_PRESENCE, UNCHANGED):
    assert cast_vote_0009.FUNCTION.count(_fragment) == 1, "rls_0009 changed; update rls_0011"

FUNCTION = cast_vote_0009.FUNCTION.replace(DEFER_ON_PRESENCE, DEFER_0011).replace(
    UNCHANGED, REFRESH + UNCHANGED
)


def upgrade_statements() -> list[str]:
    return [FUNCTION]  # the same signature: grants and comment stay


def downgrade_statements() -> list[str]:
    return [cast_vote_0009.FUNCTION]
