"""The SQL of migration 0002 (row-level security), split by kind so no file grows past a
screenful of screens. Part of a migration: never edit it; later migrations add their own."""
