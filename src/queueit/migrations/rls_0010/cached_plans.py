"""Every SQL-language helper in schema `queueit_rls` becomes the same query in PL/pgSQL
(docs/RLS.md "Helpers plan once per connection").

Why: each helper carries `SET search_path = ''` (and the definer ones SECURITY DEFINER), and
PostgreSQL never inlines such a SQL function. Up to PostgreSQL 17 a SQL function that is not
inlined is parsed, analysed and planned again for every statement that calls it (its cache
lives in the calling expression, which each execution builds anew); PL/pgSQL keeps each
query's plan for the life of the connection. The policies and the guard triggers call
these helpers several times per vote, so on PostgreSQL 15 their planning was most of a vote's
database CPU (bench/vote_pg_profile.py: docs/BENCHMARKS.md).

What does not change: each function's name, arguments, result, volatility (STABLE: its
queries see the calling statement's snapshot, as before), SECURITY DEFINER or INVOKER, owner,
`SET search_path`, grants and comment; its body is the same SELECT, now `RETURN (SELECT ...)`,
with `auth.uid()` written `(SELECT auth.uid())`: a STABLE function is evaluated again for every
row a plan filters, and on a small `users` table the planner prefers a scan that does exactly
that (one claims lookup per user row); as an InitPlan it is computed once and the primary key
is used. The same value either way.
Every helper answers one value from a primary key or an EXISTS, so the scalar subquery's
"more than one row" error cannot arise where the SQL function would have taken the first row.

Taken from the catalogue rather than from the Python constants of migrations 0002-0006, so
each helper is converted as the latest migration defined it; the downgrade turns exactly the
bodies this wrote back into SQL (tests/core/test_migrations.py checks both ways). A helper a
later migration adds is written in PL/pgSQL from the start (docs/RLS.md)."""

from __future__ import annotations

# The body this migration writes around the helper's SELECT, and reads back on downgrade.
PREFIX = " BEGIN RETURN ("
SUFFIX = "); END "
# ... and `auth.uid()` in it evaluated once per query (an InitPlan), not once per row read.
UID = "auth.uid()"
ONCE = "(SELECT auth.uid())"

_FUNCTIONS_OF = """
    SELECT p.oid, p.prosrc FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      JOIN pg_catalog.pg_language l ON l.oid = p.prolang
     WHERE n.nspname = 'queueit_rls' AND p.prokind = 'f' AND NOT p.proretset
       AND l.lanname = '{language}'"""

# pg_get_functiondef's header (everything before `AS $function$`) keeps every option; only
# the language and the body change.
UPGRADE = f"""
DO $do$
DECLARE
  f record;
BEGIN
  FOR f IN {_FUNCTIONS_OF.format(language="sql")} LOOP
    EXECUTE replace(split_part(pg_catalog.pg_get_functiondef(f.oid), 'AS $function$', 1),
                    'LANGUAGE sql', 'LANGUAGE plpgsql')
      || 'AS $function$' || '{PREFIX}'
      || replace(rtrim(btrim(f.prosrc, E' \\n\\t'), ';'), '{UID}', '{ONCE}')
      || '{SUFFIX}' || '$function$';
  END LOOP;
END
$do$"""

DOWNGRADE = f"""
DO $do$
DECLARE
  f record;
BEGIN
  FOR f IN {_FUNCTIONS_OF.format(language="plpgsql")}
       AND starts_with(p.prosrc, '{PREFIX}') AND right(p.prosrc, {len(SUFFIX)}) = '{SUFFIX}'
  LOOP
    EXECUTE replace(split_part(pg_catalog.pg_get_functiondef(f.oid), 'AS $function$', 1),
                    'LANGUAGE plpgsql', 'LANGUAGE sql')
      || 'AS $function$ '
      || replace(substr(f.prosrc, {len(PREFIX) + 1},
                        length(f.prosrc) - {len(PREFIX) + len(SUFFIX)}), '{ONCE}', '{UID}')
      || ' $function$';
  END LOOP;
END
$do$"""


def upgrade_statements() -> list[str]:
    return [UPGRADE]


def downgrade_statements() -> list[str]:
    return [DOWNGRADE]
