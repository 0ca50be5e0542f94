"""The policies of queueit_user, table by table."""

from __future__ import annotations

# ruff: noqa: S608 -- every statement is assembled from constants, no input.
from queueit.migrations.rls_0002.names import MY_SESSION, SHOWN, UID, VIEWING

PARTY_QUEUE = (
    f"session_id = {MY_SESSION} OR queueit_rls.party_access(session_id)"
    " OR queueit_rls.voted_on(id) OR queueit_rls.noted('songs', id)"
)

# (name, table, command, USING, WITH CHECK) for queueit_user; None leaves a clause out.
POLICIES: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    (
        "users_select_party",
        "users",
        "SELECT",
        f"id = {UID} OR current_session_id = {SHOWN}"
        " OR queueit_rls.party_access(current_session_id)"
        " OR queueit_rls.party_access(previous_session_id)"
        " OR id = (SELECT queueit_rls.shown_party_host())"
        " OR id IN (SELECT q.added_by_id FROM public.queued_songs q"
        f" WHERE q.session_id = {SHOWN})",
        None,
    ),
    (
        "users_insert_self",
        "users",
        "INSERT",
        None,
        f"id = {UID} AND current_session_id IS NULL AND previous_session_id IS NULL"
        " AND (is_anonymous OR NOT queueit_rls.claims_anonymous())",
    ),
    ("users_update_self", "users", "UPDATE", f"id = {UID}", f"id = {UID}"),
    (
        "users_update_release",
        "users",
        "UPDATE",
        "queueit_rls.hosts(current_session_id)",
        "current_session_id IS NULL AND queueit_rls.hosts(previous_session_id)",
    ),
    ("users_delete_self", "users", "DELETE", f"id = {UID}", None),
    ("deleted_accounts_own", "deleted_accounts", "ALL", f"user_id = {UID}", f"user_id = {UID}"),
    (
        "sessions_select_party",
        "sessions",
        "SELECT",
        # Any active party is readable: joining finds it by code before membership exists.
        f"({UID} IS NOT NULL AND (ended_at IS NULL OR host_id = {UID}"
        f" OR id = {MY_SESSION} OR queueit_rls.noted('sessions', id))) OR id = {VIEWING}",
        None,
    ),
    (
        "sessions_insert_host",
        "sessions",
        "INSERT",
        None,
        f"host_id = {UID} AND queueit_rls.can_host()"
        " AND ended_at IS NULL AND current_song_id IS NULL",
    ),
    (
        "sessions_update_active",
        "sessions",
        "UPDATE",
        f"{UID} IS NOT NULL AND ended_at IS NULL",
        f"{UID} IS NOT NULL",
    ),
    (
        "songs_select_signed_in",
        "songs",
        "SELECT",
        f"{UID} IS NOT NULL OR {VIEWING} IS NOT NULL",
        None,
    ),
    ("songs_insert_adding", "songs", "INSERT", None, f"queueit_rls.may_add({MY_SESSION})"),
    (
        "songs_update_adding",
        "songs",
        "UPDATE",
        f"{UID} IS NOT NULL",
        f"queueit_rls.may_add({MY_SESSION})",
    ),
    (
        "queued_songs_select_party",
        "queued_songs",
        "SELECT",
        f"{PARTY_QUEUE} OR session_id = {VIEWING}",
        None,
    ),
    (
        "queued_songs_insert_member",
        "queued_songs",
        "INSERT",
        None,
        f"added_by_id = {UID} AND status = 'queued' AND votes = 0"
        " AND queueit_rls.may_add(session_id)",
    ),
    ("queued_songs_update_party", "queued_songs", "UPDATE", PARTY_QUEUE, f"{UID} IS NOT NULL"),
    (
        "queued_songs_delete_host",
        "queued_songs",
        "DELETE",
        "queueit_rls.hosts(session_id)",
        None,
    ),
    (
        "votes_select_members",
        "votes",
        "SELECT",
        f"user_id = {UID} OR queueit_rls.party_access(queueit_rls.song_session(queued_song_id))",
        None,
    ),
    (
        "votes_insert_own",
        "votes",
        "INSERT",
        None,
        f"user_id = {UID} AND queueit_rls.votable(queued_song_id)",
    ),
    (
        "votes_update_own",
        "votes",
        "UPDATE",
        f"user_id = {UID}",
        f"user_id = {UID} AND queueit_rls.votable(queued_song_id)",
    ),
    ("votes_delete_own", "votes", "DELETE", f"user_id = {UID}", None),
    (
        "skip_requests_select_party",
        "skip_requests",
        "SELECT",
        f"user_id = {UID} OR session_id = {SHOWN} OR queueit_rls.party_access(session_id)",
        None,
    ),
    (
        "skip_requests_insert_own",
        "skip_requests",
        "INSERT",
        None,
        f"user_id = {UID} AND queueit_rls.skippable(queued_song_id, session_id)",
    ),
    (
        "skip_requests_delete",
        "skip_requests",
        "DELETE",
        f"user_id = {UID} OR (queueit_rls.party_access(session_id)"
        " AND NOT queueit_rls.is_playing(queued_song_id))",
        None,
    ),
)
