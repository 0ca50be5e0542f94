"""Row-level security of migration 0009 (a vote's common case in one statement)."""
