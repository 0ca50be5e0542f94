"""`queueit reverify-tracks` (catalog/reverify.py): rows stored with a client's text before
tracks were verified get the catalog's values, or lose the text when the catalog does not know
the track; provider errors leave them for the next run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select

from queueit import cli
from queueit.catalog.models import Song
from queueit.catalog.reverify import UNKNOWN_NAME, reverify_stored
from tests.catalog.conftest import spotify_overrides
from tests.catalog.fake_server import Call, FakeServer, Reply
from tests.catalog.payloads import TokenEndpoint, spotify_item

RICK = "local:rick-astley-never-gonna-give-you-up"
POISON = {
    "isrc": "",
    "name": "Party moved! Pay entry at evil.example",
    "artists": "Spam",
    "album": "",
    "duration_ms": 1,
    "image_url": "https://evil.example/pixel.jpg",
    "explicit": None,
}


@pytest.fixture
def settings_overrides(fake: FakeServer, tokens: TokenEndpoint) -> dict[str, Any]:
    return spotify_overrides(fake)


async def _plant(app: FastAPI, rows: list[tuple[str, str, bool]]) -> None:
    now = datetime.now(UTC)
    async with app.state.ctx.database.sessionmaker() as db:
        for source, provider_id, verified in rows:
            await db.execute(
                insert(Song).values(
                    id=uuid.uuid4(),
                    source=source,
                    provider_id=provider_id,
                    created_at=now,
                    verified_at=now if verified else None,
                    **POISON,
                )
            )
        await db.commit()


async def _rows(app: FastAPI) -> dict[str, Song]:
    async with app.state.ctx.database.sessionmaker() as db:
        return {s.provider_id: s for s in (await db.execute(select(Song))).scalars()}


def _batch(call: Call) -> Reply:
    known = {"sp1": spotify_item("sp1", name="Real Song")}
    ids = (call.param("ids") or "").split(",")
    return Reply(200, {"tracks": [known.get(i) for i in ids]})


async def test_unverified_rows_heal_or_lose_their_text(app: FastAPI, fake: FakeServer) -> None:
    fake.route("GET", "/v1/tracks", _batch)
    await _plant(
        app,
        [
            ("spotify", "sp1", False),
            ("spotify", "gone1", False),
            ("local", RICK, False),
            ("local", "local:made-up-xyz", False),
            ("apple_music", "1001", False),  # no Apple Music catalog on this server
            ("spotify", "trusted", True),  # verified already: not looked at
        ],
    )

    report = await reverify_stored(app.state.ctx.database, app.state.ctx.catalog)

    assert (report.verified, report.unknown, report.unavailable) == (2, 3, 0)
    rows = await _rows(app)
    assert rows["sp1"].name == "Real Song" and rows["sp1"].verified_at is not None
    assert rows["sp1"].image_url == "https://i.scdn.co/image/large"
    assert rows[RICK].name == "Never Gonna Give You Up" and rows[RICK].verified_at is not None
    for gone in ("gone1", "local:made-up-xyz", "1001"):
        assert (rows[gone].name, rows[gone].image_url, rows[gone].verified_at) == (
            UNKNOWN_NAME,
            None,
            None,
        )
    assert rows["trusted"].name == POISON["name"]  # verified rows are not re-read
    (call,) = fake.calls_to("/v1/tracks")
    assert sorted((call.param("ids") or "").split(",")) == ["gone1", "sp1"]  # one batch


async def test_a_provider_outage_leaves_rows_for_the_next_run(
    app: FastAPI, fake: FakeServer
) -> None:
    fake.route("GET", "/v1/tracks", Reply(500, {}))
    await _plant(app, [("spotify", "sp1", False)])

    report = await reverify_stored(app.state.ctx.database, app.state.ctx.catalog)

    assert (report.verified, report.unknown, report.unavailable) == (0, 0, 1)
    assert (await _rows(app))["sp1"].name == POISON["name"]
    fake.route("GET", "/v1/tracks", _batch)
    again = await reverify_stored(app.state.ctx.database, app.state.ctx.catalog)
    assert again.verified == 1 and (await _rows(app))["sp1"].name == "Real Song"


async def test_the_command_reverifies_local_tracks(
    app: FastAPI, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _plant(app, [("local", RICK, False)])
    for name, value in {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LOCAL_JWT_SECRET": "x" * 40,
        "SPOTIFY_CLIENT_ID": "",
        "SPOTIFY_CLIENT_SECRET": "",
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    assert await _run_cli(["reverify-tracks"]) == 0
    assert (await _rows(app))[RICK].name == "Never Gonna Give You Up"


async def _run_cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(cli.main, argv)


async def test_a_relinked_answer_heals_the_row_it_was_asked_for(
    app: FastAPI, fake: FakeServer
) -> None:
    relinked = {**spotify_item("sp1new", name="Real Song"), "linked_from": {"id": "sp1"}}
    fake.route("GET", "/v1/tracks", Reply(200, {"tracks": [relinked]}))
    await _plant(app, [("spotify", "sp1", False)])

    report = await reverify_stored(app.state.ctx.database, app.state.ctx.catalog)

    assert report.verified == 1
    assert (await _rows(app))["sp1"].name == "Real Song"


async def test_refresh_rereads_verified_rows_and_keeps_vanished_ones(
    app: FastAPI, fake: FakeServer
) -> None:
    fake.route("GET", "/v1/tracks", _batch)
    await _plant(app, [("spotify", "sp1", True), ("spotify", "vanished", True)])

    report = await reverify_stored(app.state.ctx.database, app.state.ctx.catalog, refresh=True)

    assert (report.verified, report.gone, report.unknown) == (1, 1, 0)
    rows = await _rows(app)
    assert rows["sp1"].name == "Real Song"
    assert rows["vanished"].name == POISON["name"]  # was verified: the catalog's old text


async def test_apple_music_lookups_are_batched_in_the_storefront(
    fake: FakeServer, apple_key: Any, make_catalog: Any
) -> None:
    from tests.catalog.conftest import apple_overrides, catalog_settings
    from tests.catalog.payloads import apple_song

    def songs(call: Call) -> Reply:
        ids = (call.param("ids") or "").split(",")
        return Reply(200, {"data": [apple_song(i, name=f"Song {i}") for i in ids if i != "404"]})

    fake.route("GET", "/v1/catalog/gb/songs", songs)
    catalog = await make_catalog(catalog_settings(**apple_overrides(fake, apple_key)))

    found = await catalog.lookup_many("apple_music", ["1", "2", "404", "../x"], storefront="GB")

    assert {i: t.name for i, t in found.items()} == {"1": "Song 1", "2": "Song 2"}
    (call,) = fake.calls_to("/v1/catalog/gb/songs")
    assert call.param("ids") == "1,2,404"  # one request; a malformed id is never sent
