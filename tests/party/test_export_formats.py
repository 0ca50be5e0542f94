"""The export's renderers on text the API would never let in (line breaks, formula starts),
the URI of each catalog, and the statement count: one history query whatever its length."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select

from queueit.catalog.models import Song
from queueit.party.export import render_csv, render_m3u, track_uri
from queueit.party.models import Party, QueuedSong, SongStatus
from queueit.party.schemas import HistoryEntryOut, HistoryExportOut
from tests.factories import make_host
from tests.statements import statements_for

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def _document(**overrides: Any) -> HistoryExportOut:
    entry: dict[str, Any] = {
        "played_at": NOW,
        "finished_at": NOW,
        "status": "played",
        "name": "Song",
        "artists": "Artist",
        "album": "Album",
        "duration_ms": 213_500,
        "source": "spotify",
        "track_id": "4uLU6hMCjMI75M1A2tKUQC",
        "isrc": "",
        "uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
        "added_by": "Sam",
        "votes": 0,
    }
    entry.update(overrides)
    return HistoryExportOut(
        session_id=uuid.uuid4(),
        join_code="PARTY-1",
        created_at=NOW,
        ended_at=None,
        exported_at=NOW,
        items=[HistoryEntryOut.model_validate(entry)],
    )


def test_no_text_breaks_an_m3u_line() -> None:
    document = _document(
        name="Evil\r\nhttp://attacker.test/x.mp3\u2028#EXTINF:1,x",
        artists="A\nB",
        uri="spotify:track:x\r\nfile:///etc/passwd",
    )
    lines = render_m3u(document).decode().split("\n")
    assert lines[0] == "#EXTM3U"
    assert lines[2] == "#EXTINF:214,A B - Evil http://attacker.test/x.mp3 #EXTINF:1,x"
    assert lines[3] == "spotify:track:x file:///etc/passwd"
    assert lines[4:] == [""]  # the last line ends with a newline; nothing else follows


def test_m3u_duration_is_unknown_when_zero() -> None:
    assert "#EXTINF:-1,Artist - Song" in render_m3u(_document(duration_ms=0)).decode()


def test_every_formula_start_is_defused_in_csv() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        text = f"{start}cmd|' /C calc'!A0"
        document = _document(name=text, artists=text, album=text, added_by=text, votes=-3)
        rows = list(csv.DictReader(io.StringIO(render_csv(document).decode(), newline="")))
        row = rows[0]
        for column in ("name", "artists", "album", "added_by"):
            assert row[column] == "'" + text, (start, column)
        assert row["votes"] == "-3"


def test_csv_quotes_commas_quotes_and_line_breaks() -> None:
    text = 'a, "b"\r\nc'
    body = render_csv(_document(name=text)).decode()
    assert '"a, ""b""\r\nc"' in body
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    assert rows[0]["name"] == text


def test_track_uris_per_catalog() -> None:
    assert track_uri("spotify", "4uLU6hMC", storefront="us") == "spotify:track:4uLU6hMC"
    assert track_uri("apple_music", "1440857781", storefront="gb") == (
        "https://music.apple.com/gb/song/1440857781"
    )
    assert track_uri("local", "local:queen-bohemian", storefront="us") == (
        "queueit:local:queen-bohemian"
    )
    assert track_uri("local", "a b/c\n", storefront="us") == "queueit:local:a%20b%2Fc%0A"


async def _seed_history(app: FastAPI, *, join_code: str, batch: str, count: int) -> None:
    """`count` more played Spotify songs in the party's history, in two statements."""
    async with app.state.ctx.database.sessionmaker() as db:
        party = (await db.execute(select(Party).where(Party.join_code == join_code))).scalar_one()
        songs = [
            {
                "id": uuid.uuid4(),
                "source": "spotify",
                "provider_id": f"seeded{batch}x{n}",
                "isrc": "",
                "name": f"Seeded {n}",
                "artists": "Artist",
                "album": "Album",
                "duration_ms": 180_000,
                "image_url": None,
                "explicit": None,
                "created_at": NOW,
            }
            for n in range(count)
        ]
        await db.execute(insert(Song), songs)
        start = datetime.now(UTC) - timedelta(hours=1)
        queued = [
            {
                "id": uuid.uuid4(),
                "party_id": party.id,
                "song_id": song["id"],
                "added_by_id": party.host_id,
                "status": SongStatus.played,
                "votes": 0,
                "entered_tier_by_gain": True,
                "last_entered_tier_at": start,
                "added_at": start,
                "started_at": start + timedelta(seconds=n),
                "finished_at": start + timedelta(seconds=n + 1),
            }
            for n, song in enumerate(songs)
        ]
        await db.execute(insert(QueuedSong), queued)
        await db.commit()


async def _statements_for_export(
    app: FastAPI, client: httpx.AsyncClient, party_id: str, headers: dict[str, str]
) -> tuple[int, httpx.Response]:
    statements, response = await statements_for(
        app,
        client,
        "GET",
        f"/api/v1/sessions/{party_id}/history/export?format=m3u",
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return statements, response


async def test_export_costs_the_same_statements_for_3_or_120_songs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    host = await make_host(client)
    created = await client.post(
        "/api/v1/sessions/create", json={"join_code": "COUNT-1"}, headers=host
    )
    party_id = created.json()["session"]["id"]
    await _seed_history(app, join_code="COUNT-1", batch="a", count=3)
    few, _ = await _statements_for_export(app, client, party_id, host)
    await _seed_history(app, join_code="COUNT-1", batch="b", count=117)
    many, response = await _statements_for_export(app, client, party_id, host)
    assert many == few
    lines = response.text.splitlines()
    assert lines.count("#EXTINF:180,Artist - Seeded 0") == 2
    uris = [line for line in lines if line.startswith("spotify:track:")]
    assert len(uris) == 120 and uris[0] == "spotify:track:seededax0"
