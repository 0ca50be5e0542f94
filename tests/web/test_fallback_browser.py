"""Fallback entries on the guest page and the TV (issue 19): marked quietly, after the
guests' own requests. Headless Chromium against a real `queueit serve`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web import test_browser
from tests.web.conftest import LiveServer
from tests.web.test_browser import HD, add_from_search, expect, join, shoot, titles

pytestmark = pytest.mark.slow
open_page = test_browser.open_page  # the fixture: a page in its own browser context


def test_fallback_entries_show_quietly_after_guest_requests(
    live_server: LiveServer, open_page: Any
) -> None:
    party, _ = live_server.create_party()
    seeded = live_server.http.put(
        "/api/v1/sessions/current/fallback",
        json={"kind": "catalog", "seed": "queen"},
        headers=party.host,
    )
    assert seeded.status_code == 200, seeded.text
    shown = live_server.http.get("/api/v1/sessions/current", headers=party.host).json()
    fallback_titles = [song["song"]["name"] for song in shown["queue"]]
    assert len(fallback_titles) == 2

    guest = open_page(f"{live_server.base_url}/join/{party.code}")
    join(guest, "Alex")
    expect(titles(guest)).to_have_text(fallback_titles)
    rows = guest.locator("#queue li.fallback")
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".fallback-label")).to_have_text("fallback")
    expect(guest.locator("#now-by .fallback-label")).to_have_text("fallback")

    # A guest's request goes ahead of the fallback entries, and is not marked.
    add_from_search(guest, "billie jean", "Billie Jean")
    expect(titles(guest)).to_have_text(["Billie Jean", *fallback_titles])
    billie = guest.locator("#queue li", has_text="Billie Jean")
    expect(billie.locator(".fallback-label")).to_have_count(0)

    screen = open_page(live_server.tv_url(party), HD, mobile=False)
    expect(screen.locator("#live")).to_have_attribute("data-state", "live")
    expect(screen.locator("#queue .title")).to_have_text(["Billie Jean", *fallback_titles])
    expect(screen.locator("#queue li.fallback")).to_have_count(2)

    # Alex upvotes the last fallback entry: it becomes a request, unmarked, live on the TV.
    last = guest.locator("#queue li", has_text=fallback_titles[-1])
    last.locator("button.vote.up").click()
    expect(titles(guest)).to_have_text([fallback_titles[-1], "Billie Jean", fallback_titles[0]])
    expect(screen.locator("#queue li.fallback")).to_have_count(1)
    shoot(guest, "guest-fallback-phone")
    shoot(screen, "tv-fallback-1080p")
