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

from queueit.migrations.rls_0002.functions import (
    DEFINER_HELPERS,
    INVOKER_HELPERS,
    PARTY_ACCESS,
    SHOWN_PARTY,
    TRIGGER_FUNCTIONS,
    TRIGGERS,
)
from queueit.migrations.rls_0002.names import (
    AUTH_UID_BODY,
    MARKER,
    ROLES,
    SYSTEM_ROLE,
    TABLES,
    USER_GRANTS,
    USER_ROLE,
)
from queueit.migrations.rls_0002.policies import POLICIES

# ruff: noqa: S608 -- every statement is assembled from the rls_0002 constants, no input.

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


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
