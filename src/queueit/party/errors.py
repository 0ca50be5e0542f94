"""Party errors (each carries its status and machine code; API.md lists every code)."""

from __future__ import annotations

from queueit.core import errors


class GuestCannotHost(errors.Forbidden):
    code, detail = "guest_cannot_host", "Guests cannot host a party; sign in with an account."


class NoMusicProvider(errors.BadRequest):
    code, detail = "no_music_provider", "Set your music provider (apple or spotify) to host."


class JoinCodeTaken(errors.Conflict):
    code, detail = "join_code_taken", "That join code is in use by another party; pick another."


class AlreadyHosting(errors.Conflict):
    code = "already_hosting"
    detail = "You opened another party at the same moment; it is the one that stays open."


class PartyNotFound(errors.NotFound):
    code, detail = "session_not_found", "No active party has that join code."


class NoActiveParty(errors.NotFound):
    code, detail = "no_active_session", "You are not in an active party."


class NotHost(errors.Forbidden):
    code, detail = "not_host", "Only the host can do this."


class NotMember(errors.Forbidden):
    code, detail = "not_member", "You are not a member of this party."


class PartyLocked(errors.Conflict):
    code, detail = "session_locked", "The host has locked the queue."


class NothingPlaying(errors.Conflict):
    code, detail = "nothing_playing", "Nothing is playing right now."


class SongNotFound(errors.NotFound):
    code, detail = "song_not_found", "No such song in your party's queue."


class SongNotVotable(errors.Conflict):
    code, detail = "song_not_votable", "Only songs waiting in the queue can be voted on."


class SongNotRemovable(errors.Conflict):
    code, detail = "song_not_removable", "Only songs waiting in the queue can be removed."


class NotAllowedToRemove(errors.Forbidden):
    code = "not_allowed_to_remove"
    detail = (
        "Only the host or a co-host, or the person who added it while nobody else voted,"
        " can remove it."
    )


class QueueFull(errors.Conflict):
    code, detail = "queue_full", "The queue is full."


class SongLimitReached(errors.Conflict):
    code, detail = "song_limit_reached", "You have queued as many songs as a guest may."


class NameImitatesHost(errors.Conflict):
    code = "name_imitates_host"
    detail = "That name looks like the host's; pick a name of your own."


class AddressVoteLimit(errors.Conflict):
    code = "address_vote_limit"
    detail = (
        "Enough people on your network have voted on this song already; each network's votes"
        " on a song are capped so that one person cannot steer the queue."
    )


class ExportNotSupported(errors.Unprocessable):
    code = "export_not_supported"
    detail = (
        "Your music provider does not support exporting a playlist to your account; "
        "download the history as JSON, CSV or M3U instead."
    )


class NothingToExport(errors.Unprocessable):
    code = "nothing_to_export"
    detail = "No song of this party's history is a Spotify track, so there is no playlist to make."


# Party rules (party/rules.py): each refusal says which rule and what the guest can do.


class SettingsInvalid(errors.Unprocessable):
    code, detail = "settings_invalid", "Those party settings are not valid."


class HostOnlyAdds(errors.Forbidden):
    code, detail = "host_only_adds", "Only the host adds songs at this party; vote for the queue."


class AddCooldown(errors.RateLimited):
    code, detail = "add_cooldown", "Wait a little before adding another song."


class TrackTooShort(errors.Unprocessable):
    code, detail = "track_too_short", "This song is shorter than the host allows."


class TrackTooLong(errors.Unprocessable):
    code, detail = "track_too_long", "This song is longer than the host allows."


class ExplicitNotAllowed(errors.Unprocessable):
    code, detail = "explicit_not_allowed", "The host does not allow explicit songs at this party."


class TrackBlocked(errors.Unprocessable):
    code, detail = "track_blocked", "The host has blocked this song or artist at this party."


class RecentlyPlayed(errors.Conflict):
    code, detail = "recently_played", "This song played a short while ago; pick another."


class VotingOff(errors.Conflict):
    code, detail = "voting_off", "The host has turned voting off at this party."


class DownvotesOff(errors.Conflict):
    code, detail = "downvotes_off", "Only upvotes are allowed at this party."


class DownvoteLimit(errors.RateLimited):
    code, detail = "downvote_limit", "You have used your downvotes for this hour."


class NotManager(errors.Forbidden):
    code, detail = "not_manager", "Only the host or a co-host can do this."


class MemberNotFound(errors.NotFound):
    code, detail = "member_not_found", "That person is not in this party."


class CannotRemoveHost(errors.Forbidden):
    code, detail = "cannot_remove_host", "The host cannot be removed from their own party."


class GuestCannotTakeOver(errors.Conflict):
    code = "guest_cannot_take_over"
    detail = "The party can only be handed to someone in it who has an account (not a guest)."


class MemberHostsAnotherParty(errors.Conflict):
    code = "member_hosts_another_party"
    detail = "That person hosts another party; they must end it before taking this one over."


class Banned(errors.Forbidden):
    code, detail = "banned", "You were banned from this party."


class BanNotFound(errors.NotFound):
    code, detail = "ban_not_found", "That person is not banned from this party."


class FallbackEmpty(errors.Unprocessable):
    code = "fallback_empty"
    detail = "That fallback source has no tracks this server could verify."


class FallbackSourceNotSupported(errors.Unprocessable):
    code = "fallback_source_not_supported"
    detail = "This server cannot read playlists from that catalog."
