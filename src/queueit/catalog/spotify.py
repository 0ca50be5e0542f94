"""Spotify Web API provider (client-credentials flow: catalog search needs no user)."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Callable
from typing import Any

import structlog

from queueit.catalog.artwork import allowed_artwork
from queueit.catalog.errors import CatalogUnavailable
from queueit.catalog.http import ProviderHttp
from queueit.catalog.providers import (
    AlbumType,
    Candidate,
    build_track,
    int_or_none,
    text_or_none,
)
from queueit.catalog.schemas import Source, Track

log = structlog.get_logger(__name__)

TRACK_ID_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
ISRC_RE = re.compile(r"^[A-Z0-9]{12}$")
MAX_LIMIT = 50
MAX_IDS_PER_REQUEST = 50  # GET /v1/tracks?ids= takes at most 50 ids
ISRC_LOOKUP_LIMIT = 20


def refresh_delay(expires_in: float) -> float:
    """Seconds after the fetch at which a token is renewed: a minute before it expires, or
    halfway through its life when it lives less than two minutes."""
    return max(expires_in - 60.0, expires_in / 2.0)


class SpotifyTokens:
    """One client-credentials token per process, renewed before it expires. Concurrent
    callers that find it missing or stale wait for a single fetch (single-flight)."""

    def __init__(
        self,
        http: ProviderHttp,
        *,
        accounts_url: str,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = accounts_url.rstrip("/") + "/api/token"
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._basic = f"Basic {basic}"
        self._clock = clock
        self._token = ""
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return bool(self._token) and self._clock() < self._refresh_at

    async def token(self) -> str:
        if self._fresh():
            return self._token
        async with self._lock:
            if not self._fresh():
                await self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        if token and token == self._token:
            self._token = ""

    def forbidden(self) -> None:
        """A 403 to the app's own token is an operator's problem: 503, logged."""

    async def _fetch(self) -> None:
        response = await self._http.send(
            "POST",
            self._url,
            operation="token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": self._basic},
        )
        if response is None:  # 400 invalid_client and friends: wrong credentials
            log.error("spotify_credentials_rejected")
            raise CatalogUnavailable()
        body = self._http.json_of(response, operation="token")
        token = body.get("access_token")
        expires_in = body.get("expires_in", 3600)
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            log.error("spotify_token_response_invalid")
            raise CatalogUnavailable()
        self._token = token
        self._refresh_at = self._clock() + refresh_delay(float(expires_in))
        log.info("spotify_token_fetched", expires_in=expires_in)


def _largest_image(album: dict[str, Any]) -> str | None:
    best: tuple[int, str] | None = None
    for image in album.get("images") or []:
        if not isinstance(image, dict):
            continue
        url = text_or_none(image.get("url"))
        if url is None or allowed_artwork("spotify", url) is None:
            continue
        area = (int_or_none(image.get("width")) or 0) * (int_or_none(image.get("height")) or 0)
        if best is None or area > best[0]:
            best = (area, url)
    return best[1] if best else None


def _isrc_of(item: dict[str, Any]) -> str:
    ids = item.get("external_ids")
    raw = ids.get("isrc") if isinstance(ids, dict) else None
    if not isinstance(raw, str):
        return ""
    isrc = raw.replace("-", "").strip().upper()
    return isrc if ISRC_RE.match(isrc) else ""


def spotify_candidate(item: object) -> Candidate | None:
    """Map one Spotify track object; None (skipped) when it lacks what a Track needs."""
    if not isinstance(item, dict) or item.get("is_playable") is False:
        return None
    album = item.get("album") if isinstance(item.get("album"), dict) else {}
    assert isinstance(album, dict)
    names = [
        a["name"]
        for a in item.get("artists") or []
        if isinstance(a, dict) and text_or_none(a.get("name"))
    ]
    explicit = item.get("explicit")
    track = build_track(
        "spotify",
        {
            "id": item.get("id"),
            "isrc": _isrc_of(item),
            "name": item.get("name"),
            "artists": " & ".join(names),
            "album": text_or_none(album.get("name")) or "",
            "duration_ms": int_or_none(item.get("duration_ms")),
            "image_url": _largest_image(album),
            "explicit": explicit if isinstance(explicit, bool) else None,
        },
    )
    if track is None:
        return None
    album_type = album.get("album_type")
    kind: AlbumType | None = (
        album_type if album_type in ("album", "single", "compilation") else None
    )
    return Candidate(track=track, album_type=kind, is_compilation=kind == "compilation")


def _as_requested(item: object) -> Track | None:
    """A batch item under the id it was asked for: with a market, Spotify may answer with a
    relinked version (another id, `linked_from` naming the one asked for)."""
    candidate = spotify_candidate(item)
    if candidate is None or not isinstance(item, dict):
        return None
    linked = item.get("linked_from")
    asked = linked.get("id") if isinstance(linked, dict) else None
    if isinstance(asked, str) and asked and asked != candidate.track.id:
        return candidate.track.model_copy(update={"id": asked})
    return candidate.track


PLAYLIST_PAGE = 100  # Spotify's largest page of playlist items


class SpotifyProvider:
    def __init__(
        self,
        http: ProviderHttp,
        *,
        api_url: str,
        accounts_url: str,
        client_id: str,
        client_secret: str,
    ) -> None:
        self._http = http
        self._api = api_url.rstrip("/")
        self.tokens = SpotifyTokens(
            http, accounts_url=accounts_url, client_id=client_id, client_secret=client_secret
        )

    @property
    def source(self) -> Source:
        return "spotify"

    def health(self) -> str:
        return "degraded" if self._http.circuit.is_open_locally() else "ok"

    async def _search_items(
        self, query: str, *, limit: int, market: str, operation: str = "search"
    ) -> list[Candidate]:
        body = await self._http.get_json(
            f"{self._api}/search",
            operation=operation,
            params={
                "q": query,
                "type": "track",
                "limit": max(1, min(limit, MAX_LIMIT)),
                "market": market.upper(),
            },
            tokens=self.tokens,
        )
        tracks = (body or {}).get("tracks")
        items = tracks.get("items") if isinstance(tracks, dict) else None
        if not isinstance(items, list):
            return []
        return [c for c in map(spotify_candidate, items) if c is not None]

    async def search(self, query: str, *, limit: int, market: str) -> list[Track]:
        return [c.track for c in await self._search_items(query, limit=limit, market=market)]

    async def get_track(self, track_id: str, *, market: str) -> Track | None:
        if not TRACK_ID_RE.match(track_id):
            return None
        body = await self._http.get_json(
            f"{self._api}/tracks/{track_id}",
            operation="get_track",
            params={"market": market.upper()},
            tokens=self.tokens,
        )
        candidate = spotify_candidate(body) if body is not None else None
        return candidate.track if candidate else None

    async def get_tracks(self, track_ids: list[str], *, market: str) -> list[Track]:
        """`GET /tracks?ids=` in batches of 50; ids Spotify does not know come back null."""
        wanted = [i for i in dict.fromkeys(track_ids) if TRACK_ID_RE.match(i)]
        found: list[Track | None] = []
        for start in range(0, len(wanted), MAX_IDS_PER_REQUEST):
            body = await self._http.get_json(
                f"{self._api}/tracks",
                operation="get_track",
                params={
                    "ids": ",".join(wanted[start : start + MAX_IDS_PER_REQUEST]),
                    "market": market.upper(),
                },
                tokens=self.tokens,
            )
            items = (body or {}).get("tracks")
            if isinstance(items, list):
                found.extend(_as_requested(item) for item in items if item)
        return [track for track in found if track is not None]

    async def find_by_isrc(self, isrc: str, *, market: str) -> list[Candidate]:
        if not ISRC_RE.match(isrc):
            return []
        candidates = await self._search_items(
            f"isrc:{isrc}", limit=ISRC_LOOKUP_LIMIT, market=market, operation="find_by_isrc"
        )
        return [c for c in candidates if c.track.isrc == isrc]

    async def playlist_tracks(self, playlist_id: str, *, market: str, limit: int) -> list[Track]:
        """The playlist's tracks in order (`GET /playlists/{id}/tracks`, paged by 100), up to
        `limit`; episodes and local files are left out. An unknown playlist is []."""
        found: list[Track] = []
        offset = 0
        while len(found) < limit:
            body = await self._http.get_json(
                f"{self._api}/playlists/{playlist_id}/tracks",
                operation="playlist_tracks",
                params={"market": market.upper(), "limit": PLAYLIST_PAGE, "offset": offset},
                tokens=self.tokens,
            )
            items = (body or {}).get("items")
            if not isinstance(items, list) or not items:
                break
            for item in items:
                entry = item.get("track") if isinstance(item, dict) else None
                candidate = spotify_candidate(entry) if entry else None
                if candidate is not None:
                    found.append(candidate.track)
            if not (body or {}).get("next"):
                break
            offset += len(items)
        return found[:limit]
