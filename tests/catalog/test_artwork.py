"""The artwork allow-list (catalog/artwork.py): each provider's own image hosts only."""

from __future__ import annotations

import pytest

from queueit.catalog.artwork import allowed_artwork
from queueit.catalog.spotify import spotify_candidate
from tests.catalog.payloads import spotify_item


@pytest.mark.parametrize(
    ("source", "url", "kept"),
    [
        ("spotify", "https://i.scdn.co/image/ab67616d0000b273", True),
        ("spotify", "https://I.SCDN.CO/image/x", True),
        ("spotify", "https://i.scdn.co.evil.example/image/x", False),
        ("spotify", "https://evil.example/i.scdn.co/x", False),
        ("spotify", "http://i.scdn.co/image/x", False),
        ("spotify", "https://user@i.scdn.co/image/x", False),
        ("spotify", "https://i.scdn.co:8443/image/x", False),
        ("spotify", "https://is1-ssl.mzstatic.com/image/x", False),  # Apple's host, not Spotify's
        ("apple_music", "https://is1-ssl.mzstatic.com/image/thumb/x/600x600bb.jpg", True),
        ("apple_music", "https://mzstatic.com/x", False),
        ("apple_music", "https://evilmzstatic.com/x", False),
        ("apple_music", "https://i.scdn.co/image/x", False),
        ("local", "https://i.scdn.co/image/x", False),
        ("local", "https://party.example/art/a.jpg", True),  # this server (PUBLIC_BASE_URL)
        ("local", "https://party.example:8443/art/a.jpg", False),
    ],
)
def test_only_the_providers_image_hosts_are_kept(source: str, url: str, kept: bool) -> None:
    result = allowed_artwork(source, url, own_origin="https://party.example")  # type: ignore[arg-type]
    assert result == (url if kept else None)


def test_local_artwork_needs_public_base_url() -> None:
    assert allowed_artwork("local", "https://party.example/a.jpg") is None


def test_a_provider_item_with_foreign_artwork_keeps_its_track_without_the_image() -> None:
    item = spotify_item("sp1")
    item["album"]["images"] = [{"url": "https://evil.example/a.jpg", "width": 9, "height": 9}]
    candidate = spotify_candidate(item)
    assert candidate is not None and candidate.track.image_url is None
