"""The host finds the history downloads on the guest page (JSON, CSV, M3U), during the party
and on the "party has ended" sheet; guests never see them. Headless Chromium against a real
`queueit serve`; each download is compared with the export route's own file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web import test_browser
from tests.web.conftest import LiveServer
from tests.web.test_browser import expect, join, shoot

pytestmark = pytest.mark.slow
open_page = test_browser.open_page  # the fixture: a page in its own browser context
SKIP = {"skip_current_track": True}


def signed_in_as(page: Any, base_url: str, headers: dict[str, str], code: str) -> None:
    """The page reloaded with `headers`' token stored, as after the host signed in there."""
    token = headers["Authorization"].removeprefix("Bearer ")
    page.evaluate("(token) => localStorage.setItem('queueit.token', token)", token)
    page.goto(f"{base_url}/join/{code}")
    expect(page.locator("#view-party")).to_be_visible()


def route_file(server: LiveServer, party_id: str, fmt: str, host: dict[str, str]) -> bytes:
    response = server.http.get(
        f"/api/v1/sessions/{party_id}/history/export", params={"format": fmt}, headers=host
    )
    assert response.status_code == 200, response.text
    return response.content


def downloaded(page: Any, button: Any) -> tuple[str, bytes]:
    with page.expect_download() as info:
        button.click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_the_host_downloads_the_history_during_and_after_the_party(
    live_server: LiveServer, open_page: Any
) -> None:
    party, _ = live_server.create_party()
    for query in ("a", "e"):
        live_server.add(party.host, live_server.search(party.host, query))
        skipped = live_server.http.patch(
            "/api/v1/sessions/control_session", json=SKIP, headers=party.host
        )
        assert skipped.status_code == 200, skipped.text

    guest = open_page(f"{live_server.base_url}/join/{party.code}")
    join(guest, "Alex")
    host = open_page(f"{live_server.base_url}/join")
    signed_in_as(host, live_server.base_url, party.host, party.code)

    panel = host.locator("#host-export")
    expect(panel).to_be_visible()
    shoot(host, "host-export-phone", full_page=True)
    name, body = downloaded(host, panel.locator("[data-export=csv]"))
    assert name.startswith(f"queueit-{party.code}-") and name.endswith(".csv")
    assert body == route_file(live_server, party.id, "csv", party.host)
    assert body.count(b"\r\n") == 3  # the header and the two songs that played
    assert guest.locator("#host-export").is_hidden()

    ended = live_server.http.post("/api/v1/sessions/end", headers=party.host)
    assert ended.status_code == 200, ended.text
    sheet = host.locator("#ended-export")
    expect(sheet).to_be_visible()
    shoot(host, "host-ended-phone")
    name, body = downloaded(host, sheet.locator("[data-export=m3u]"))
    assert name.endswith(".m3u8")
    assert body == route_file(live_server, party.id, "m3u", party.host)
    expect(guest.locator("#ended")).to_be_visible()
    assert guest.locator("#ended-export").is_hidden()
