"""Row-level security of migration 0006 (party roles and bans)."""
