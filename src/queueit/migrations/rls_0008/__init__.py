"""Row-level security of migration 0008 (the caller's GET /sessions/current in one statement)."""
