"""Row-level security of migration 0011 (a vote's presence write in its one statement)."""
