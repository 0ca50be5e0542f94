"""Migration 0004's row-level security changes: the join path (docs/RLS.md)."""
