"""Roles, tables, grants and the SQL fragments the functions and policies share."""

from __future__ import annotations

USER_ROLE = "queueit_user"
SYSTEM_ROLE = "queueit_system"
ROLES = (USER_ROLE, SYSTEM_ROLE)
MARKER = "QueueIT migration 0002 (row-level security) created this; its downgrade removes it."
TABLES = (
    "users",
    "deleted_accounts",
    "sessions",
    "songs",
    "queued_songs",
    "votes",
    "skip_requests",
)

# What queueit_user may touch at all; the policies below narrow it to rows. UPDATE is granted
# per column: what a service may change, never ids, join codes, hosts or creation times.
USER_GRANTS = {
    "users": (
        "SELECT, INSERT, DELETE",
        "username, display_name, music_provider, storefront, is_anonymous,"
        " current_session_id, previous_session_id, last_active_at",
    ),
    "deleted_accounts": ("SELECT, INSERT, DELETE", ""),
    "sessions": (
        "SELECT, INSERT",
        "is_locked, is_paused, current_song_id, last_skip_was_crowdsourced, version,"
        " last_activity_at, ended_at, end_reason",
    ),
    "songs": (
        "SELECT, INSERT",
        "source, provider_id, isrc, name, artists, album, duration_ms, image_url, explicit",
    ),
    "queued_songs": (
        "SELECT, INSERT, DELETE",
        "status, votes, entered_tier_by_gain, last_entered_tier_at, started_at, finished_at",
    ),
    "votes": ("SELECT, INSERT, DELETE", "value, updated_at"),
    "skip_requests": ("SELECT, INSERT, DELETE", ""),
}

AUTH_UID_BODY = """
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $fn$
  SELECT nullif(coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub'
  ), '')::uuid
$fn$"""

UID = "(SELECT auth.uid())"
MY_SESSION = "(SELECT queueit_rls.my_session_id())"
# The party on screen: the caller's, or the one a TV link shows (reads only).
SHOWN = "(SELECT queueit_rls.shown_party())"
VIEWING = "(SELECT queueit_rls.viewing())"

# SECURITY DEFINER helpers, owned by queueit_system: (signature, return type, body). Each reads
# what a policy needs past the caller's own policies (no recursion) and answers one narrow
# question with a yes/no or an id, never rows.
