"""Catalog errors: what a search or a cross-catalog resolution can fail with."""

from __future__ import annotations

import math

from queueit.core import errors


class CatalogUnavailable(errors.ServiceUnavailable):
    """A provider is rate-limiting us, failing, timing out or rejecting our credentials.
    Never rendered as 401 (the iOS app signs out on any 401)."""

    code = "catalog_unavailable"
    detail = "The music catalog is unavailable right now; try again shortly."

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        super().__init__(detail, headers=headers)
        self.retry_after = retry_after


class TrackUnavailable(errors.Unprocessable):
    """The track has no match in the host's catalog (a definite answer, not an outage)."""

    code = "track_unavailable"
    detail = "This track is not available in the host's music catalog."


class TrackNotFound(errors.Unprocessable):
    """The catalog named by an added track's `source` has no track with its `id`."""

    code = "track_not_found"
    detail = "The catalog has no track with this id."


class CatalogNotConfigured(errors.Unprocessable):
    """An added track's `source` names a catalog this server has no credentials for (and
    ALLOW_UNVERIFIED_TRACKS is off): the track cannot be verified, so it is not queued."""

    code = "catalog_not_configured"
    detail = "That catalog is not configured on this server, so its tracks cannot be added."


class CatalogSourceNotConfigured(errors.NotFound):
    """`source=` names a provider this server has no credentials for."""

    code = "catalog_source_not_configured"
    detail = "That catalog is not configured on this server."


class CatalogMisconfigured(RuntimeError):
    """Catalog settings are inconsistent (startup fails with this message)."""


class ProviderTokenInvalid(errors.Unprocessable):
    """The provider refused the user's own token (401: expired, revoked or not a token).
    Never rendered as 401, which the iOS app takes for its own session ending."""

    code = "provider_token_invalid"
    detail = "Your music provider did not accept your sign-in; sign in to it again and retry."


class ProviderScopeMissing(errors.Forbidden):
    """The provider refused the user's token for this action (403: a scope is missing)."""

    code = "provider_scope_missing"
    detail = (
        "Your music provider's sign-in does not allow creating playlists; sign in again and "
        "allow QueueIT to manage your playlists."
    )


class PlaylistIncomplete(errors.ServiceUnavailable):
    """The playlist was created, then adding its tracks failed part way (never retried:
    a repeated add could put songs in twice)."""

    code = "playlist_incomplete"
    detail = "The playlist was created but not all of its songs could be added."

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        super().__init__(detail, headers=headers)
