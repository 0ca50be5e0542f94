"""Party rules read the catalog's record of a track, never the client's: the explicit flag
and the ISRC of a Spotify track, through the real client against the fake Spotify server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.catalog.conftest import spotify_overrides
from tests.catalog.fake_server import FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, spotify_item
from tests.catalog.test_trusted_tracks import party

API = "/api/v1"


@pytest.fixture
def settings_overrides(fake: FakeServer, tokens: TokenEndpoint) -> dict[str, Any]:
    return spotify_overrides(fake)


def serve(fake: FakeServer, track_id: str, *, explicit: bool, isrc: str) -> None:
    item = spotify_item(track_id, name=f"Song {track_id}", explicit=explicit, isrc=isrc)
    fake.route("GET", f"/v1/tracks/{track_id}", Reply(200, item))


async def test_explicit_tracks_are_refused_by_the_catalogs_flag(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    serve(fake, "rude", explicit=True, isrc="USRUD0000001")
    serve(fake, "clean", explicit=False, isrc="USCLN0000001")
    _, host, guest = await party(client)
    rules = {"allow_explicit": False}
    changed = await client.patch(f"{API}/sessions/current/settings", json=rules, headers=host)
    assert changed.status_code == 200, changed.text
    # The client says "clean"; the catalog says explicit.
    sent = {"source": "spotify", "id": "rude", "explicit": False}
    refused = await client.post(f"{API}/songs/add", json=sent, headers=guest)
    assert refused.status_code == 422 and refused.json()["code"] == "explicit_not_allowed"
    # The client says explicit; the catalog says clean.
    sent = {"source": "spotify", "id": "clean", "explicit": True}
    added = await client.post(f"{API}/songs/add", json=sent, headers=guest)
    assert added.status_code == 200, added.text
    assert added.json()["song"]["explicit"] is False


async def test_an_isrc_block_holds_whatever_isrc_the_client_sends(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    serve(fake, "banned", explicit=False, isrc="USBAN0000001")
    _, host, guest = await party(client)
    rules = {"blocked_isrcs": ["usban0000001"]}
    assert (
        await client.patch(f"{API}/sessions/current/settings", json=rules, headers=host)
    ).status_code == 200
    sent = {"source": "spotify", "id": "banned", "isrc": "USOTH0000001"}
    refused = await client.post(f"{API}/songs/add", json=sent, headers=guest)
    assert refused.status_code == 422 and refused.json()["code"] == "track_blocked"
