"""Playlists in a user's own Spotify account, made with a token the user supplies (the host's
export of a party's history). The server keeps no user token: each call gets one, uses it for
its few requests and forgets it; it is never logged, stored or sent back.

Spotify Web API: `GET /me` (whose account), `POST /users/{id}/playlists` (create),
`POST /playlists/{id}/tracks` (add, at most 100 URIs a request). Failures:

- 401 (the token expired or was revoked): 422 `provider_token_invalid`, nothing retried (a
  user's token cannot be renewed here; the app signs the user in to Spotify again).
- 403 (the token lacks `playlist-modify-private` / `playlist-modify-public`): 403
  `provider_scope_missing`.
- 429: 503 `catalog_unavailable` with Retry-After. These calls run on their own circuit
  (`spotify_playlists`), never the catalog's `spotify` one: the user's token belongs to the
  app that signed them in, which may not be this server's client, and one host's export must
  not stop search for every party.
- 5xx, timeouts: reading `/me` is retried once; creating the playlist never (a timed-out
  create may have succeeded: a retry could make two playlists, 503 `catalog_unavailable`);
  adding tracks never either (Spotify appends, so a repeated add could put songs in twice):
  503 `playlist_incomplete`, saying how many songs made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import structlog

from queueit.catalog.circuit import Circuit
from queueit.catalog.errors import (
    CatalogUnavailable,
    PlaylistIncomplete,
    ProviderScopeMissing,
    ProviderTokenInvalid,
)
from queueit.catalog.http import DEFAULT_RETRY_BACKOFF_SECONDS, ProviderHttp
from queueit.catalog.spotify import TRACK_ID_RE
from queueit.core.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

PROVIDER = "spotify_playlists"  # the circuit's and the metrics' name
MAX_URIS_PER_REQUEST = 100  # POST /playlists/{id}/tracks takes at most 100
PLAYLIST_ID_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
OPEN_URL = "https://open.spotify.com/playlist/"


class UserToken:
    """A token source holding one user's token for one export. It cannot be renewed, so a
    401 or 403 ends the export with an error the user can act on. Its repr hides the token."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        raise ProviderTokenInvalid()

    def forbidden(self) -> None:
        raise ProviderScopeMissing()

    def __repr__(self) -> str:
        return "UserToken([Filtered])"


@dataclass(frozen=True)
class CreatedPlaylist:
    playlist_id: str
    url: str
    added: int


def spotify_track_uri(track_id: str) -> str | None:
    """`spotify:track:<id>`, or None for an id that is not a Spotify track id (a track kept
    under ALLOW_UNVERIFIED_TRACKS may carry anything)."""
    return f"spotify:track:{track_id}" if TRACK_ID_RE.match(track_id) else None


class SpotifyPlaylists:
    def __init__(self, http: ProviderHttp, *, api_url: str) -> None:
        self._http = http
        self._api = api_url.rstrip("/")

    async def create(
        self, *, access_token: str, name: str, description: str, public: bool, uris: list[str]
    ) -> CreatedPlaylist:
        """A new playlist named `name` in the token owner's account holding `uris` in order."""
        tokens = UserToken(access_token)
        user_id = await self._user_id(tokens)
        playlist = await self._create(
            tokens, user_id=user_id, name=name, description=description, public=public
        )
        added = await self._add(tokens, playlist_id=playlist.playlist_id, uris=uris)
        log.info("spotify_playlist_exported", playlist_id=playlist.playlist_id, added=added)
        return CreatedPlaylist(playlist_id=playlist.playlist_id, url=playlist.url, added=added)

    async def _user_id(self, tokens: UserToken) -> str:
        body = await self._http.get_json(f"{self._api}/me", operation="me", tokens=tokens)
        user_id = (body or {}).get("id")
        if not isinstance(user_id, str) or not user_id:
            log.warning("spotify_user_unreadable")
            raise CatalogUnavailable()
        return user_id

    async def _create(
        self, tokens: UserToken, *, user_id: str, name: str, description: str, public: bool
    ) -> CreatedPlaylist:
        response = await self._http.send(
            "POST",
            f"{self._api}/users/{quote(user_id, safe='')}/playlists",
            operation="create_playlist",
            json={"name": name, "description": description, "public": public},
            tokens=tokens,
            retry=False,
        )
        if response is None:
            log.warning("spotify_playlist_not_created")
            raise CatalogUnavailable()
        body = self._http.json_of(response, operation="create_playlist")
        playlist_id = body.get("id")
        if not isinstance(playlist_id, str) or not PLAYLIST_ID_RE.match(playlist_id):
            log.warning("spotify_playlist_response_invalid")
            raise CatalogUnavailable()
        return CreatedPlaylist(playlist_id=playlist_id, url=_open_url(body, playlist_id), added=0)

    async def _add(self, tokens: UserToken, *, playlist_id: str, uris: list[str]) -> int:
        added = 0
        for start in range(0, len(uris), MAX_URIS_PER_REQUEST):
            chunk = uris[start : start + MAX_URIS_PER_REQUEST]
            retry_after: float | None = None
            try:
                response = await self._http.send(
                    "POST",
                    f"{self._api}/playlists/{playlist_id}/tracks",
                    operation="add_tracks",
                    json={"uris": chunk},
                    tokens=tokens,
                    retry=False,
                )
            except CatalogUnavailable as exc:
                response, retry_after = None, exc.retry_after
            if response is None:
                log.warning(
                    "spotify_playlist_incomplete",
                    playlist_id=playlist_id,
                    added=added,
                    wanted=len(uris),
                )
                raise PlaylistIncomplete(
                    f"The playlist was created in your Spotify account, but Spotify failed "
                    f"while adding its songs ({added} of {len(uris)} added). Delete it there "
                    "and export again.",
                    retry_after=retry_after,
                )
            added += len(chunk)
        return added


def _open_url(body: dict[str, Any], playlist_id: str) -> str:
    """The playlist's page: Spotify's own link when it is one, else the canonical one."""
    urls = body.get("external_urls")
    url = urls.get("spotify") if isinstance(urls, dict) else None
    if isinstance(url, str) and url.startswith(OPEN_URL):
        return url
    return OPEN_URL + playlist_id


def build_playlists(
    settings: Settings,
    http: httpx.AsyncClient,
    redis: Redis | None,
    *,
    retry_backoff: float = DEFAULT_RETRY_BACKOFF_SECONDS,
) -> SpotifyPlaylists:
    """The playlist client: SPOTIFY_API_URL and CATALOG_TIMEOUT_SECONDS, no credentials (each
    call brings its user's token), its own rate-limit circuit (shared through Redis)."""
    provider_http = ProviderHttp(
        PROVIDER,
        http,
        circuit=Circuit(PROVIDER, redis=redis),
        timeout=settings.catalog_timeout_seconds,
        retry_backoff=retry_backoff,
    )
    return SpotifyPlaylists(provider_http, api_url=settings.spotify_api_url)
