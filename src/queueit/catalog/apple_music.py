"""Apple Music catalog provider, authenticated by a developer token (ES256 JWT) we sign with
the team's MusicKit `.p8` key."""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from queueit.catalog.errors import CatalogMisconfigured
from queueit.catalog.http import ProviderHttp
from queueit.catalog.providers import (
    AlbumType,
    Candidate,
    build_track,
    int_or_none,
    text_or_none,
)
from queueit.catalog.schemas import Source, Track
from queueit.core.settings import Settings

log = structlog.get_logger(__name__)

TOKEN_TTL_SECONDS = 12 * 3600  # Apple allows up to 180 days; short-lived limits a leak
TOKEN_RENEW_MARGIN_SECONDS = 15 * 60
MAX_SEARCH_LIMIT = 25  # Apple's maximum page size for catalog search
ARTWORK_SIZE = 600
MAX_IDS_PER_REQUEST = 300  # GET /catalog/{sf}/songs?ids= takes at most 300 ids
SONG_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
STOREFRONT_RE = re.compile(r"^[a-z]{2}$")
ISRC_RE = re.compile(r"^[A-Z0-9]{12}$")


def apple_configured(settings: Settings) -> bool:
    return bool(
        settings.apple_team_id
        and settings.apple_key_id
        and (settings.apple_private_key_base64 or settings.apple_private_key_path)
    )


def load_private_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The `.p8` key from APPLE_PRIVATE_KEY_BASE64 (base64 of the PEM, or the PEM itself) or
    APPLE_PRIVATE_KEY_PATH; it must be a P-256 EC key."""
    try:
        if settings.apple_private_key_base64:
            raw = settings.apple_private_key_base64.strip()
            pem = raw.encode() if raw.startswith("-----BEGIN") else base64.b64decode(raw)
        else:
            pem = Path(settings.apple_private_key_path).expanduser().read_bytes()
        key = load_pem_private_key(pem, password=None)
    except (OSError, ValueError, TypeError, binascii.Error) as exc:
        raise CatalogMisconfigured(
            f"the Apple Music private key cannot be read ({type(exc).__name__}); set "
            "APPLE_PRIVATE_KEY_BASE64 to the base64 of the .p8 file or APPLE_PRIVATE_KEY_PATH"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CatalogMisconfigured("the Apple Music private key must be a P-256 (ES256) key")
    return key


class AppleDeveloperToken:
    """The developer token, signed locally and renewed shortly before it expires."""

    def __init__(
        self,
        *,
        team_id: str,
        key_id: str,
        private_key: ec.EllipticCurvePrivateKey,
        ttl: int = TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._team_id = team_id
        self._key_id = key_id
        self._key = private_key
        self._ttl = min(ttl, 180 * 24 * 3600)
        self._clock = clock
        self._token = ""
        self._renew_at = 0.0

    async def token(self) -> str:
        if not self._token or self._clock() >= self._renew_at:
            now = int(self._clock())
            self._token = jwt.encode(
                {"iss": self._team_id, "iat": now, "exp": now + self._ttl},
                self._key,
                algorithm="ES256",
                headers={"kid": self._key_id},
            )
            self._renew_at = now + self._ttl - min(TOKEN_RENEW_MARGIN_SECONDS, self._ttl / 2)
            log.info("apple_developer_token_signed", expires_in=self._ttl)
        return self._token

    def invalidate(self, token: str) -> None:
        if token and token == self._token:
            self._token = ""

    def forbidden(self) -> None:
        """A 403 to the app's own token is an operator's problem: 503, logged."""


def _artwork_url(attributes: dict[str, Any]) -> str | None:
    artwork = attributes.get("artwork")
    if not isinstance(artwork, dict):
        return None
    template = text_or_none(artwork.get("url"))
    if template is None:
        return None
    width = int_or_none(artwork.get("width")) or ARTWORK_SIZE
    height = int_or_none(artwork.get("height")) or ARTWORK_SIZE
    size = min(ARTWORK_SIZE, width, height)
    return (
        template.replace("{w}", str(size))
        .replace("{h}", str(size))
        .replace("{c}", "bb")
        .replace("{f}", "jpg")
    )


def _album_facts(resource: dict[str, Any], album_name: str) -> tuple[AlbumType | None, bool]:
    relationships = resource.get("relationships")
    albums = relationships.get("albums") if isinstance(relationships, dict) else None
    data = albums.get("data") if isinstance(albums, dict) else None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        attrs = data[0].get("attributes")
        if isinstance(attrs, dict):
            if attrs.get("isCompilation") is True:
                return "compilation", True
            if attrs.get("isSingle") is True:
                return "single", False
            return "album", False
    # Without the album resource, Apple's naming convention tells singles and EPs apart.
    if album_name.endswith((" - Single", " - EP")):
        return "single", False
    return None, False


def apple_candidate(resource: object) -> Candidate | None:
    """Map one Apple `songs` resource; None (skipped) when it lacks what a Track needs."""
    if not isinstance(resource, dict) or resource.get("type", "songs") != "songs":
        return None
    attributes = resource.get("attributes")
    if not isinstance(attributes, dict):
        return None
    album = text_or_none(attributes.get("albumName")) or ""
    isrc = attributes.get("isrc")
    isrc = isrc.strip().upper() if isinstance(isrc, str) else ""
    track = build_track(
        "apple_music",
        {
            "id": resource.get("id"),
            "isrc": isrc if ISRC_RE.match(isrc) else "",
            "name": attributes.get("name"),
            "artists": attributes.get("artistName"),
            "album": album,
            "duration_ms": int_or_none(attributes.get("durationInMillis")),
            "image_url": _artwork_url(attributes),
            "explicit": attributes.get("contentRating") == "explicit",
        },
    )
    if track is None:
        return None
    album_type, is_compilation = _album_facts(resource, album)
    return Candidate(track=track, album_type=album_type, is_compilation=is_compilation)


def _storefront(market: str) -> str:
    market = market.lower()
    return market if STOREFRONT_RE.match(market) else "us"


def _songs(data: object) -> list[Candidate]:
    if not isinstance(data, list):
        return []
    return [c for c in map(apple_candidate, data) if c is not None]


PLAYLIST_PAGE = 100  # Apple Music's largest page of playlist tracks


class AppleMusicProvider:
    def __init__(self, http: ProviderHttp, *, api_url: str, tokens: AppleDeveloperToken) -> None:
        self._http = http
        self._api = api_url.rstrip("/")
        self.tokens = tokens

    @property
    def source(self) -> Source:
        return "apple_music"

    def health(self) -> str:
        return "degraded" if self._http.circuit.is_open_locally() else "ok"

    async def search(self, query: str, *, limit: int, market: str) -> list[Track]:
        body = await self._http.get_json(
            f"{self._api}/catalog/{_storefront(market)}/search",
            operation="search",
            params={"types": "songs", "term": query, "limit": max(1, min(limit, MAX_SEARCH_LIMIT))},
            tokens=self.tokens,
        )
        results = (body or {}).get("results")
        songs = results.get("songs") if isinstance(results, dict) else None
        data = songs.get("data") if isinstance(songs, dict) else None
        return [c.track for c in _songs(data)]

    async def get_track(self, track_id: str, *, market: str) -> Track | None:
        if not SONG_ID_RE.match(track_id):
            return None
        body = await self._http.get_json(
            f"{self._api}/catalog/{_storefront(market)}/songs/{track_id}",
            operation="get_track",
            tokens=self.tokens,
        )
        songs = _songs((body or {}).get("data"))
        return songs[0].track if songs else None

    async def get_tracks(self, track_ids: list[str], *, market: str) -> list[Track]:
        """`GET /catalog/{sf}/songs?ids=` in batches of 300; unknown ids are left out."""
        wanted = [i for i in dict.fromkeys(track_ids) if SONG_ID_RE.match(i)]
        found: list[Track] = []
        for start in range(0, len(wanted), MAX_IDS_PER_REQUEST):
            body = await self._http.get_json(
                f"{self._api}/catalog/{_storefront(market)}/songs",
                operation="get_track",
                params={"ids": ",".join(wanted[start : start + MAX_IDS_PER_REQUEST])},
                tokens=self.tokens,
            )
            found.extend(c.track for c in _songs((body or {}).get("data")))
        return found

    async def find_by_isrc(self, isrc: str, *, market: str) -> list[Candidate]:
        if not ISRC_RE.match(isrc):
            return []
        body = await self._http.get_json(
            f"{self._api}/catalog/{_storefront(market)}/songs",
            operation="find_by_isrc",
            params={"filter[isrc]": isrc, "include": "albums"},
            tokens=self.tokens,
        )
        return [c for c in _songs((body or {}).get("data")) if c.track.isrc in ("", isrc)]

    async def playlist_tracks(self, playlist_id: str, *, market: str, limit: int) -> list[Track]:
        """The catalog playlist's songs in order (`GET /catalog/{sf}/playlists/{id}/tracks`,
        following `next`), up to `limit`; music videos are left out. Unknown: []."""
        found: list[Track] = []
        offset = 0
        while len(found) < limit:
            body = await self._http.get_json(
                f"{self._api}/catalog/{_storefront(market)}/playlists/{playlist_id}/tracks",
                operation="playlist_tracks",
                params={"limit": PLAYLIST_PAGE, "offset": offset},
                tokens=self.tokens,
            )
            data = (body or {}).get("data")
            if not isinstance(data, list) or not data:
                break
            found.extend(c.track for c in _songs(data))
            if not (body or {}).get("next"):
                break
            offset += len(data)
        return found[:limit]
