"""Provider JSON as Spotify and Apple Music send it (only the fields we read, plus noise)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.catalog.fake_server import Call, Reply


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
