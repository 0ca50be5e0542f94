"""Row-level security of migration 0010 (the helpers planned once per connection)."""
