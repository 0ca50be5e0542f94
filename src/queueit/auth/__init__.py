"""Local-mode sign-in: anonymous guest tokens and tokens for named users (embedded default)."""
