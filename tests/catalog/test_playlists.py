"""POST /sessions/{id}/export/spotify: the host's history as a playlist in their own Spotify
account, made by the real playlist client against a fake Spotify, on both databases."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from tests.catalog.conftest import spotify_overrides
from tests.catalog.fake_server import FakeServer, Reply
from tests.catalog.payloads import SpotifyAccount, TokenEndpoint, spotify_item
from tests.factories import make_host, make_user, track

API = "/api/v1"
USER_TOKEN = "BQD-host-user-token-7f3a9c"  # what the host's app got from Spotify
SKIP = {"skip_current_track": True}


@pytest.fixture
def limits() -> dict[str, Any]:
    """Rate-limit settings (a test parametrises this to turn limits on)."""
    return {}


@pytest.fixture
def settings_overrides(
    request: pytest.FixtureRequest, fake: FakeServer, tokens: TokenEndpoint, limits: dict[str, Any]
) -> dict[str, Any]:
    # The export logs at INFO.
    overrides = {**spotify_overrides(fake), "log_level": "INFO", **limits}
    if "redis_url" in request.fixturenames:  # a test that asks for Redis runs the app with it
        overrides["redis_url"] = request.getfixturevalue("redis_url")
    return overrides


@pytest.fixture
def account(fake: FakeServer) -> SpotifyAccount:
    spotify = SpotifyAccount(USER_TOKEN)
    spotify.install(fake)
    return spotify


def spotify_track(fake: FakeServer, track_id: str) -> dict[str, Any]:
    """An add request for fake Spotify's track `track_id` (served for verification)."""
    fake.route("GET", f"/v1/tracks/{track_id}", Reply(200, spotify_item(track_id)))
    return {"id": track_id, "source": "spotify"}


async def party(client: httpx.AsyncClient, provider: str = "spotify") -> tuple[str, dict[str, str]]:
    host = await make_host(client, provider=provider)
    code = "P" + uuid.uuid4().hex[:6].upper()
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    return created.json()["session"]["id"], host


async def play(client: httpx.AsyncClient, host: dict[str, str], bodies: list[Any]) -> None:
    """Each song is added (it starts at once: nothing else plays) and then skipped."""
    for body in bodies:
        added = await client.post(f"{API}/songs/add", json=body, headers=host)
        assert added.status_code == 200, added.text
        skipped = await client.patch(f"{API}/sessions/control_session", json=SKIP, headers=host)
        assert skipped.status_code == 200, skipped.text


async def export(
    client: httpx.AsyncClient, party_id: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/sessions/{party_id}/export/spotify",
        json={"access_token": USER_TOKEN, **body},
        headers=headers,
    )


async def test_the_playlist_holds_the_historys_spotify_tracks_in_play_order(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    first, second = spotify_track(fake, "sp1"), spotify_track(fake, "sp2")
    await play(client, host, [first, track(1), second, first, track(2)])

    response = await export(client, party_id, host, name="Saturday", public=True)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "playlist_id": SpotifyAccount.PLAYLIST_ID,
        "url": f"https://open.spotify.com/playlist/{SpotifyAccount.PLAYLIST_ID}",
        "added": 3,
        "skipped": 2,
    }
    history = await client.get(
        f"{API}/sessions/{party_id}/history/export", params={"format": "json"}, headers=host
    )
    expected = [i["uri"] for i in history.json()["items"] if i["source"] == "spotify"]
    assert expected == ["spotify:track:sp1", "spotify:track:sp2", "spotify:track:sp1"]
    assert account.tracks == expected
    (created,) = fake.calls_to(SpotifyAccount.CREATE, "POST")
    sent = json.loads(created.body)
    assert sent["name"] == "Saturday" and sent["public"] is True
    assert USER_TOKEN not in response.text


async def test_an_ended_party_exports_with_a_default_name_and_private(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp7")])
    assert (await client.post(f"{API}/sessions/end", headers=host)).status_code == 200

    response = await export(client, party_id, host)

    assert response.status_code == 200, response.text
    assert account.tracks == ["spotify:track:sp7"]
    (created,) = fake.calls_to(SpotifyAccount.CREATE, "POST")
    sent = json.loads(created.body)
    assert sent["public"] is False
    assert sent["name"].startswith("QueueIT P") and "in play order" in sent["description"]


async def test_150_tracks_are_added_in_two_calls(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    ids = [f"bulk{n}" for n in range(150)]
    await play(client, host, [spotify_track(fake, i) for i in ids])

    response = await export(client, party_id, host)

    assert response.status_code == 200, response.text
    assert response.json()["added"] == 150
    calls = fake.calls_to(SpotifyAccount.ADD, "POST")
    assert [len(json.loads(c.body)["uris"]) for c in calls] == [100, 50]
    assert account.tracks == [f"spotify:track:{i}" for i in ids]


async def test_an_expired_token_is_provider_token_invalid_and_nothing_is_retried(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp1")])
    account.token = "a-newer-token"  # Spotify no longer takes the host's

    response = await export(client, party_id, host)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "provider_token_invalid"
    assert len(fake.calls_to(SpotifyAccount.ME)) == 1
    assert fake.calls_to(SpotifyAccount.CREATE) == []
    assert USER_TOKEN not in response.text


async def test_a_token_without_the_playlist_scope_is_provider_scope_missing(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp1")])
    account.fail[SpotifyAccount.CREATE] = Reply(403, {"error": {"status": 403}})

    response = await export(client, party_id, host)

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "provider_scope_missing"
    assert len(fake.calls_to(SpotifyAccount.CREATE)) == 1


async def test_a_failed_create_is_503_and_never_repeated(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp1")])
    account.fail[SpotifyAccount.CREATE] = Reply(500, {"error": {"status": 500}})

    response = await export(client, party_id, host)

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "catalog_unavailable"
    assert len(fake.calls_to(SpotifyAccount.CREATE, "POST")) == 1
    assert fake.calls_to(SpotifyAccount.ADD) == []


async def test_a_failed_add_is_playlist_incomplete_and_never_repeated(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp1")])
    account.fail[SpotifyAccount.ADD] = Reply(502, {"error": {"status": 502}})

    response = await export(client, party_id, host)

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "playlist_incomplete"
    assert "0 of 1" in response.json()["detail"]
    assert len(fake.calls_to(SpotifyAccount.ADD, "POST")) == 1


async def test_a_second_chunk_that_fails_says_how_many_songs_made_it(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, f"bulk{n}") for n in range(120)])
    answers = iter([account.add_tracks, lambda _call: Reply(503, {"error": {"status": 503}})])
    fake.route("POST", SpotifyAccount.ADD, lambda call: next(answers)(call))

    response = await export(client, party_id, host)

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "playlist_incomplete"
    assert "100 of 120" in response.json()["detail"]
    assert len(account.tracks) == 100
    assert len(fake.calls_to(SpotifyAccount.ADD, "POST")) == 2  # the failed chunk: not again


async def test_a_rate_limited_export_leaves_search_working(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount, redis_url: str
) -> None:
    """Even with the circuits shared through Redis, the export's 429 is not search's."""
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp1")])
    account.fail[SpotifyAccount.ME] = Reply(429, {}, headers={"Retry-After": "30"})

    response = await export(client, party_id, host)

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "catalog_unavailable"
    assert 29 <= int(response.headers["Retry-After"]) <= 30
    fake.route("GET", "/v1/search", Reply(200, {"tracks": {"items": [spotify_item("sp9")]}}))
    search = await client.get("/api/v1/spotify/search", params={"q": "x"}, headers=host)
    assert search.status_code == 200, search.text
    assert [t["id"] for t in search.json()["tracks"]] == ["sp9"]
    assert (await client.get("/readyz")).json()["checks"]["catalog"] == "ok"


@pytest.mark.parametrize(
    "limits", [{"rate_limit_enabled": True, "rate_limits": {"sessions_export": "2/hour"}}]
)
async def test_exports_are_rate_limited_per_host(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp1")])

    answers = [(await export(client, party_id, host)).status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    assert len(fake.calls_to(SpotifyAccount.CREATE, "POST")) == 2


async def test_only_the_host_may_export(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    code = (await client.get(f"{API}/sessions/current", headers=host)).json()["session"]
    guest = await make_user(client, anonymous=True)
    joined = await client.post(
        f"{API}/sessions/join", json={"join_code": code["join_code"]}, headers=guest
    )
    assert joined.status_code == 200, joined.text
    await play(client, host, [spotify_track(fake, "sp1")])

    response = await export(client, party_id, guest)

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "not_host"
    assert fake.calls_to(SpotifyAccount.ME) == []


async def test_an_apple_music_party_is_export_not_supported(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client, provider="apple")
    await play(client, host, [track(1)])

    response = await export(client, party_id, host)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "export_not_supported"
    assert "Apple Music" in response.json()["detail"]
    assert fake.calls_to(SpotifyAccount.ME) == []


async def test_a_history_without_spotify_tracks_is_nothing_to_export(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [track(1), track(2)])

    response = await export(client, party_id, host)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "nothing_to_export"
    assert fake.calls_to(SpotifyAccount.ME) == []


async def test_a_token_that_could_break_the_header_is_refused_unsent(
    client: httpx.AsyncClient, fake: FakeServer, account: SpotifyAccount
) -> None:
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp1")])

    response = await export(client, party_id, host, access_token=f"{USER_TOKEN}\r\nX-Evil: 1")

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert USER_TOKEN not in response.text
    assert fake.calls_to(SpotifyAccount.ME) == []


async def test_the_token_is_never_logged(
    client: httpx.AsyncClient,
    fake: FakeServer,
    account: SpotifyAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither our events (their fields before any masking) nor library log records (httpx
    logs each request) carry the token, on success, on failure or on a refused body."""
    party_id, host = await party(client)
    await play(client, host, [spotify_track(fake, "sp1")])
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        ok = await export(client, party_id, host)
        account.fail[SpotifyAccount.CREATE] = Reply(500, {"error": {"status": 500}})
        failed = await export(client, party_id, host)
        bad = await client.post(
            f"{API}/sessions/{party_id}/export/spotify",
            json={"access_token": USER_TOKEN, "public": "maybe"},
            headers=host,
        )

    assert (ok.status_code, failed.status_code, bad.status_code) == (200, 503, 422)
    names = [event["event"] for event in events]
    assert "spotify_playlist_exported" in names and "catalog_provider_failed" in names
    assert any("/v1/me" in record.getMessage() for record in caplog.records)
    assert USER_TOKEN not in repr(events)
    assert USER_TOKEN not in caplog.text
    assert USER_TOKEN not in bad.text
