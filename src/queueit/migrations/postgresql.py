"""What the PostgreSQL-only migrations share: their statements run on PostgreSQL; on SQLite
(no row-level security, no functions) there is nothing to do."""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op


def on_postgresql(statements: Iterable[str]) -> None:
    """Run `statements` in order when this migration runs on PostgreSQL."""
    if op.get_context().dialect.name == "postgresql":
        for statement in statements:
            op.execute(statement)
