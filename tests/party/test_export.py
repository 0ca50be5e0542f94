"""GET /sessions/{id}/history/export: the host downloads the history as JSON, CSV or M3U,
compared against GET /sessions/{id}/history (the same songs, in reverse: play order)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.factories import make_host, make_user, track

SKIP = {"skip_current_track": True}


async def _party(
    client: httpx.AsyncClient, code: str
) -> tuple[dict[str, str], dict[str, str], str]:
    """A party with history: played, skipped, played, skipped (a guest adds two songs)."""
    host = await make_host(client)
    created = await client.post("/api/v1/sessions/create", json={"join_code": code}, headers=host)
    assert created.status_code == 200, created.text
    party_id = created.json()["session"]["id"]
    guest = await make_user(client, anonymous=True)
    named = await client.patch(
        "/api/v1/users/me", json={"display_name": 'Sam, "the DJ"'}, headers=guest
    )
    assert named.status_code == 200, named.text
    joined = await client.post("/api/v1/sessions/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    first = (await client.post("/api/v1/songs/add", json=track(1), headers=guest)).json()
    second = (await client.post("/api/v1/songs/add", json=track(2), headers=host)).json()
    third = (await client.post("/api/v1/songs/add", json=track(3), headers=guest)).json()
    fourth = (await client.post("/api/v1/songs/add", json=track(4), headers=host)).json()
    vote = await client.post(
        f"/api/v1/songs/{fourth['id']}/vote", json={"vote_value": -1}, headers=guest
    )
    assert vote.status_code == 200, vote.text
    finished = {"queued_song_id": first["id"]}
    assert (
        await client.post("/api/v1/sessions/song_finished", json=finished, headers=host)
    ).status_code == 200
    played = []
    for _ in range(3):  # second is skipped, third played out, fourth skipped
        current = (await client.get("/api/v1/sessions/current", headers=host)).json()
        song = current["current_song"]
        played.append(song["id"])
        if song["id"] == third["id"]:
            body = {"queued_song_id": song["id"]}
            done = await client.post("/api/v1/sessions/song_finished", json=body, headers=host)
        else:
            done = await client.patch("/api/v1/sessions/control_session", json=SKIP, headers=host)
        assert done.status_code == 200, done.text
    assert played == [second["id"], third["id"], fourth["id"]]
    return host, guest, party_id


async def _history(client: httpx.AsyncClient, party_id: str, headers: dict[str, str]) -> list[Any]:
    page = await client.get(f"/api/v1/sessions/{party_id}/history?limit=500", headers=headers)
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


def _expected(item: dict[str, Any]) -> dict[str, Any]:
    """What an export row says of a history item."""
    song, adder = item["song"], item["added_by"]
    return {
        "status": item["status"],
        "name": song["name"],
        "artists": song["artists"],
        "album": song["album"],
        "duration_ms": song["duration_ms"],
        "source": song["source"],
        "track_id": song["id"],
        "isrc": song["isrc"],
        "added_by": adder["display_name"] or adder["username"],
        "votes": item["votes"],
    }


async def _export(
    client: httpx.AsyncClient, party_id: str, fmt: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.get(
        f"/api/v1/sessions/{party_id}/history/export", params={"format": fmt}, headers=headers
    )


async def test_json_export_is_the_history_in_play_order(client: httpx.AsyncClient) -> None:
    opened = datetime.now(UTC).date().isoformat()  # the file is named after the party's day
    host, guest, party_id = await _party(client, "EXPORT-1")
    history = await _history(client, party_id, guest)
    assert [item["status"] for item in history] == ["skipped", "played", "skipped", "played"]
    response = await _export(client, party_id, "json", host)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    named = {
        f'attachment; filename="queueit-EXPORT-1-{day}.json"'
        for day in (opened, datetime.now(UTC).date().isoformat())  # a run across midnight
    }
    assert response.headers["content-disposition"] in named
    body = response.json()
    assert body["session_id"] == party_id and body["join_code"] == "EXPORT-1"
    keys = list(_expected(history[0]))
    assert [{k: item[k] for k in keys} for item in body["items"]] == [
        _expected(item) for item in reversed(history)
    ]
    assert body["items"][0]["added_by"] == 'Sam, "the DJ"'
    assert body["items"][-1]["votes"] == -1
    played = [item["played_at"] for item in body["items"]]
    assert played == sorted(played)


async def test_csv_export_parses_back_to_the_history(client: httpx.AsyncClient) -> None:
    host, _guest, party_id = await _party(client, "EXPORT-2")
    history = await _history(client, party_id, host)
    response = await _export(client, party_id, "csv", host)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].endswith('.csv"')
    assert "\r\n" in response.text  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert len(rows) == len(history) == 4
    for row, item in zip(rows, reversed(history), strict=True):
        expected = {k: str(v) for k, v in _expected(item).items()}
        assert {k: row[k] for k in expected} == expected
        assert row["uri"] == "queueit:local:" + item["song"]["id"].removeprefix("local:")
        datetime.fromisoformat(row["played_at"])


async def test_m3u_export_parses_back_to_the_history(client: httpx.AsyncClient) -> None:
    host, _guest, party_id = await _party(client, "EXPORT-3")
    history = await _history(client, party_id, host)
    response = await _export(client, party_id, "m3u", host)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/x-mpegurl"
    assert response.headers["content-disposition"].endswith('.m3u8"')
    lines = response.text.splitlines()
    assert lines[0] == "#EXTM3U"
    entries = [line for line in lines if not line.startswith("#") or line.startswith("#EXTINF:")]
    parsed = []
    for info, uri in zip(entries[::2], entries[1::2], strict=True):
        seconds, title = info.removeprefix("#EXTINF:").split(",", 1)
        parsed.append((int(seconds), title, uri))
    assert parsed == [
        (
            round(item["song"]["duration_ms"] / 1000),
            f"{item['song']['artists']} - {item['song']['name']}",
            "queueit:local:" + item["song"]["id"].removeprefix("local:"),
        )
        for item in reversed(history)
    ]


async def test_csv_cells_cannot_start_a_formula(client: httpx.AsyncClient) -> None:
    host, guest, party_id = await _party(client, "EXPORT-4")
    evil = '=HYPERLINK("http://x.io","a")'  # 29: display names are 1-30
    renamed = await client.patch("/api/v1/users/me", json={"display_name": evil}, headers=guest)
    assert renamed.status_code == 200, renamed.text
    response = await _export(client, party_id, "csv", host)
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    by_guest = [row for row in rows if row["added_by"].endswith(evil)]
    assert len(by_guest) == 2
    assert all(row["added_by"] == "'" + evil for row in by_guest)
    for row in rows:
        for column, value in row.items():
            if column != "votes":  # a number, written as one (-1 is not a formula)
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)
    assert [row["votes"] for row in rows][-1] == "-1"


async def test_only_the_host_exports(client: httpx.AsyncClient) -> None:
    host, guest, party_id = await _party(client, "EXPORT-5")
    for fmt in ("json", "csv", "m3u"):
        denied = await _export(client, party_id, fmt, guest)
        assert denied.status_code == 403, denied.text
        assert denied.json()["code"] == "not_host"
    outsider = await make_user(client, anonymous=True)
    denied = await _export(client, party_id, "csv", outsider)
    assert denied.status_code == 403 and denied.json()["code"] == "not_host"
    unknown = await _export(client, str(uuid.uuid4()), "csv", host)
    assert unknown.status_code == 404, unknown.text
    assert set(unknown.json()) == {"detail", "code", "request_id"}
    for bad in ("xml", "", "JSON", "csv\r\n"):
        invalid = await _export(client, party_id, bad, host)
        assert invalid.status_code == 422, (bad, invalid.text)
        assert invalid.json()["code"] == "validation_error"
    missing = await client.get(f"/api/v1/sessions/{party_id}/history/export", headers=host)
    assert missing.status_code == 422
    anonymous = await client.get(f"/api/v1/sessions/{party_id}/history/export?format=csv")
    assert anonymous.status_code == 401


async def test_an_ended_party_is_still_exported_by_its_host(client: httpx.AsyncClient) -> None:
    host, guest, party_id = await _party(client, "EXPORT-6")
    history = await _history(client, party_id, host)
    ended = await client.post("/api/v1/sessions/end", headers=host)
    assert ended.status_code == 200, ended.text
    response = await _export(client, party_id, "json", host)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ended_at"] is not None
    keys = list(_expected(history[0]))
    assert [{k: item[k] for k in keys} for item in body["items"]] == [
        _expected(item) for item in reversed(history)
    ]
    m3u = await _export(client, party_id, "m3u", host)
    assert m3u.status_code == 200 and m3u.text.count("#EXTINF:") == 4
    denied = await _export(client, party_id, "csv", guest)
    assert denied.status_code == 403 and denied.json()["code"] == "not_host"
    # The host's next party does not change what the old one exports.
    again = await client.post(
        "/api/v1/sessions/create", json={"join_code": "EXPORT-7"}, headers=host
    )
    assert again.status_code == 200
    assert (await _export(client, party_id, "json", host)).json()["items"] == body["items"]


async def test_an_empty_history_exports_headers_only(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    created = await client.post(
        "/api/v1/sessions/create", json={"join_code": "EXPORT-8"}, headers=host
    )
    party_id = created.json()["session"]["id"]
    csv_text = (await _export(client, party_id, "csv", host)).text
    assert csv_text.startswith("played_at,finished_at,status,") and csv_text.count("\r\n") == 1
    assert (await _export(client, party_id, "m3u", host)).text.startswith("#EXTM3U\n")
    assert (await _export(client, party_id, "json", host)).json()["items"] == []
