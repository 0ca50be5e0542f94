"""Provider JSON as Spotify and Apple Music send it (only the fields we read, plus noise)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tests.catalog.fake_server import Call, FakeServer, Reply


def spotify_item(
    track_id: str = "sp1",
    *,
    name: str = "Song",
    artists: Sequence[str] = ("Artist",),
    album: str = "Album",
    album_type: str = "album",
    duration_ms: int = 200_000,
    isrc: str = "USABC1234567",
    explicit: bool = False,
) -> dict[str, Any]:
    return {
        "id": track_id,
        "type": "track",
        "name": name,
        "artists": [{"id": f"a{i}", "name": a} for i, a in enumerate(artists)],
        "album": {
            "name": album,
            "album_type": album_type,
            "images": [
                {"url": "https://i.scdn.co/image/small", "width": 64, "height": 64},
                {"url": "https://i.scdn.co/image/large", "width": 640, "height": 640},
                {"url": "https://i.scdn.co/image/medium", "width": 300, "height": 300},
            ],
        },
        "duration_ms": duration_ms,
        "explicit": explicit,
        "external_ids": {"isrc": isrc},
        "popularity": 80,
    }


def spotify_search(items: list[Any]) -> dict[str, Any]:
    return {"tracks": {"items": items, "total": len(items), "limit": 10, "offset": 0}}


def apple_song(
    song_id: str = "1001",
    *,
    name: str = "Song",
    artist: str = "Artist",
    album: str = "Album",
    duration_ms: int = 200_000,
    isrc: str = "USABC1234567",
    explicit: bool = False,
    is_compilation: bool | None = None,
    is_single: bool | None = None,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "name": name,
        "artistName": artist,
        "albumName": album,
        "durationInMillis": duration_ms,
        "isrc": isrc,
        "artwork": {
            "url": "https://is1-ssl.mzstatic.com/image/thumb/x/{w}x{h}bb.jpg",
            "width": 3000,
            "height": 3000,
        },
        "genreNames": ["Pop"],
    }
    if explicit:
        attributes["contentRating"] = "explicit"
    song: dict[str, Any] = {"id": song_id, "type": "songs", "attributes": attributes}
    if is_compilation is not None or is_single is not None:
        song["relationships"] = {
            "albums": {
                "data": [
                    {
                        "id": f"al-{song_id}",
                        "type": "albums",
                        "attributes": {
                            "name": album,
                            "isCompilation": bool(is_compilation),
                            "isSingle": bool(is_single),
                        },
                    }
                ]
            }
        }
    return song


def apple_search(songs: list[Any]) -> dict[str, Any]:
    return (
        {"results": {"songs": {"data": songs, "href": "/v1/catalog/us/search"}}}
        if songs
        else {"results": {}}
    )


class TokenEndpoint:
    """Spotify's accounts service: numbered tokens, optional delay and lifetime."""

    def __init__(self, *, expires_in: int = 3600, delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.issued = 0

    def __call__(self, call: Call) -> Reply:
        assert call.headers.get("authorization", "").startswith("Basic ")
        assert b"grant_type=client_credentials" in call.body
        self.issued += 1
        body = {
            "access_token": f"tok-{self.issued}",
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        return Reply(200, body, delay=self.delay)


class SpotifyAccount:
    """One Spotify user's account for playlist exports: `GET /v1/me`, create a playlist,
    add tracks (kept in order, so a test reads back what the playlist holds). Only
    `token` is accepted (401 for anything else); `fail` replaces one route's answer."""

    USER_ID = "dj.host"
    PLAYLIST_ID = "pl42"
    ME = "/v1/me"
    CREATE = f"/v1/users/{USER_ID}/playlists"
    ADD = f"/v1/playlists/{PLAYLIST_ID}/tracks"

    def __init__(self, token: str) -> None:
        self.token = token
        self.tracks: list[str] = []
        self.fail: dict[str, Reply] = {}

    def install(self, fake: FakeServer) -> None:
        fake.route("GET", self.ME, self._me)
        fake.route("POST", self.CREATE, self._create)
        fake.route("POST", self.ADD, self.add_tracks)

    def _refusal(self, call: Call, path: str) -> Reply | None:
        if call.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"error": {"status": 401, "message": "Invalid access token"}})
        return self.fail.get(path)

    def _me(self, call: Call) -> Reply:
        return self._refusal(call, self.ME) or Reply(200, {"id": self.USER_ID, "type": "user"})

    def _create(self, call: Call) -> Reply:
        refused = self._refusal(call, self.CREATE)
        if refused:
            return refused
        assert call.headers["content-type"] == "application/json"
        body = {
            "id": self.PLAYLIST_ID,
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{self.PLAYLIST_ID}"},
            **json.loads(call.body),
        }
        return Reply(201, body)

    def add_tracks(self, call: Call) -> Reply:
        refused = self._refusal(call, self.ADD)
        if refused:
            return refused
        uris = json.loads(call.body)["uris"]
        assert len(uris) <= 100
        self.tracks.extend(uris)
        return Reply(201, {"snapshot_id": f"snap-{len(self.tracks)}"})
