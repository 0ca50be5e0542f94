"""Session errors (each carries its status and machine code)."""

from __future__ import annotations

from queueit.core import errors


class GuestCannotHost(errors.Forbidden):
    code, detail = "guest_cannot_host", "Guests cannot host a party; sign in with an account."


class NoMusicProvider(errors.BadRequest):
    code, detail = "no_music_provider", "Set your music provider (apple or spotify) to host."


class JoinCodeTaken(errors.Conflict):
    code, detail = "join_code_taken", "That join code is in use by another party; pick another."


class SessionNotFound(errors.NotFound):
    code, detail = "session_not_found", "No active party has that join code."


class NoActiveSession(errors.NotFound):
    code, detail = "no_active_session", "You are not in an active party."


class NotHost(errors.Forbidden):
    code, detail = "not_host", "Only the host can do this."


class NotMember(errors.Forbidden):
    code, detail = "not_member", "You are not a member of this party."


class SessionLocked(errors.Conflict):
    code, detail = "session_locked", "The host has locked the queue."


class NothingPlaying(errors.Conflict):
    code, detail = "nothing_playing", "Nothing is playing right now."
