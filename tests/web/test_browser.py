"""End to end in headless Chromium against a real `queueit serve`: guests join, add, vote and
skip live; the TV shows the party; errors read well; data renders as text, never as HTML."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import token_for
from tests.web.conftest import (
    EVIL_ARTISTS,
    EVIL_NAME,
    EVIL_QUEUED,
    LiveServer,
    output_dir,
    serve,
)

pytestmark = pytest.mark.slow

PHONE = {"width": 360, "height": 740}
HD = {"width": 1920, "height": 1080}
TIMEOUT_MS = 10_000


class Watched:
    """A page plus what it must never do: raise, open a dialog, or break the CSP."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.errors.append(f"csp: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self) -> None:
        assert self.errors == []
        assert self.dialogs == []


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in a new browser context (its own storage: a separate guest)."""
    contexts: list[Any] = []
    watched: list[Watched] = []

    def open_(url: str, viewport: dict[str, int] = PHONE, *, mobile: bool = True) -> Any:
        context = browser.new_context(
            viewport=viewport,
            device_scale_factor=2 if mobile else 1,
            is_mobile=mobile,
            has_touch=mobile,
        )
        contexts.append(context)
        page = context.new_page()
        watched.append(Watched(page))
        page.goto(url)
        return page

    yield open_
    try:
        for item in watched:
            item.check()
    finally:
        for context in contexts:
            context.close()


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def join(page: Any, name: str) -> None:
    page.locator("#view-join").wait_for(state="visible")
    page.fill("#name", name)
    page.click("#join-button")
    expect(page.locator("#view-party")).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-state", "live")


def add_from_search(page: Any, query: str, title: str) -> None:
    page.fill("#search", query)
    row = page.locator("#results li", has=page.locator(".title", has_text=re.compile(f"^{title}$")))
    row.first.locator("button.add").click()
    expect(page.locator("#toast")).to_contain_text(title)


def titles(page: Any) -> Any:
    return page.locator("#queue .title")


def shoot(page: Any, name: str, *, full_page: bool = False) -> None:
    """A screenshot in CSS pixels at 1080p, at the device's resolution on a phone."""
    page.wait_for_timeout(600)  # let row animations settle
    wide = page.viewport_size["width"] >= HD["width"]
    page.screenshot(
        path=str(output_dir() / f"{name}.png"),
        full_page=full_page,
        scale="css" if wide else "device",
    )


def test_two_guests_share_a_live_party(live_server: LiveServer, open_page: Any) -> None:
    party, _ = live_server.create_party()
    alex = open_page(f"{live_server.base_url}/join/{party.code}")
    shoot(alex, "guest-join-phone")
    join(alex, "Alex")
    blair = open_page(f"{live_server.base_url}/join?code={party.code.lower()}")
    join(blair, "Blair")

    # Alex adds songs from the demo catalog; Blair sees them without reloading.
    add_from_search(alex, "dancing queen", "Dancing Queen")
    expect(blair.locator("#now-title")).to_have_text("Dancing Queen")
    expect(blair.locator("#now-by")).to_have_text("Added by Alex")
    add_from_search(alex, "billie jean", "Billie Jean")
    add_from_search(alex, "africa toto", "Africa")
    expect(titles(blair)).to_have_text(["Billie Jean", "Africa"])

    # Blair upvotes Africa: it moves up at once for Blair, live for Alex.
    africa = blair.locator("#queue li", has_text="Africa")
    africa.locator("button.vote.up").click()
    expect(titles(blair)).to_have_text(["Africa", "Billie Jean"])
    expect(africa.locator(".score")).to_have_text("+1")
    expect(titles(alex)).to_have_text(["Africa", "Billie Jean"])
    expect(alex.locator("#queue li", has_text="Africa").locator(".score")).to_have_text("+1")

    # Blair asks to skip (host + 2 guests: 2 of 3 needed); Alex sees the count move.
    blair.click("#skip-button")
    expect(blair.locator("#skip-button")).to_have_attribute("aria-pressed", "true")
    expect(alex.locator("#skip-text")).to_have_text("1 of 2 to skip")

    # A reload rejoins with the stored token, straight into the party, votes intact.
    blair.reload()
    expect(blair.locator("#view-party")).to_be_visible()
    expect(blair.locator("#view-join")).to_be_hidden()
    expect(titles(blair)).to_have_text(["Africa", "Billie Jean"])
    expect(blair.locator("#queue li", has_text="Africa").locator("button.vote.up")).to_have_class(
        re.compile(r"\bon\b")
    )

    # The TV shows the party and follows it.
    screen = open_page(live_server.tv_url(party), HD, mobile=False)
    expect(screen.locator("#live")).to_have_attribute("data-state", "live")
    expect(screen.locator("#now-title")).to_have_text("Dancing Queen")
    expect(screen.locator("#queue .title")).to_have_text(["Africa", "Billie Jean"])
    expect(screen.locator("#participants")).to_have_text("3 people")
    expect(screen.locator("#join-code")).to_have_text(party.code)
    expect(screen.locator("#skip-text")).to_have_text("Skip votes 1 / 2")
    screen.wait_for_function("document.getElementById('qr').naturalWidth > 0")
    add_from_search(alex, "september", "September")
    expect(screen.locator("#queue .title")).to_have_text(["Africa", "Billie Jean", "September"])

    shoot(alex, "guest-phone")
    shoot(alex, "guest-phone-full", full_page=True)
    shoot(screen, "tv-1080p")
    alex.set_viewport_size(HD)
    shoot(alex, "guest-1080p")
    screen.set_viewport_size(PHONE)
    shoot(screen, "tv-phone")

    # The host ends the party: everyone is told.
    ended = live_server.http.post("/api/v1/sessions/end", headers=party.host)
    assert ended.status_code == 200
    for guest in (alex, blair):
        expect(guest.locator("#ended")).to_be_visible()
        expect(guest.locator("#ended-title")).to_have_text("This party has ended")
    expect(screen.locator("#screen-title")).to_have_text("The party is over")
    shoot(blair, "guest-ended-phone")


def test_a_vote_reaches_the_tv_within_a_second_over_its_socket(
    live_server: LiveServer, open_page: Any
) -> None:
    """The TV follows the party over the realtime socket: with its polling route blocked, a
    vote shows on the screen in under a second."""
    party, _ = live_server.create_party()
    live_server.add(party.host, live_server.search(party.host, "dancing queen"))  # plays
    queued = live_server.add(party.host, live_server.search(party.host, "billie jean"))
    guest = live_server.host()
    joined = live_server.http.post(
        "/api/v1/sessions/join", json={"join_code": party.code}, headers=guest
    )
    assert joined.status_code == 200, joined.text

    page = open_page("about:blank", HD, mobile=False)
    polls: list[str] = []

    def no_polling(route: Any) -> None:
        polls.append(route.request.url)
        route.abort()

    page.route(re.compile(r".*/tv_state.*"), no_polling)
    sockets: list[Any] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.goto(live_server.tv_url(party))
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#now-title")).to_have_text("Dancing Queen")
    votes = page.locator("#queue li", has_text="Billie Jean").locator(".tv-votes")
    expect(votes).to_have_text("0")

    started = time.monotonic()
    vote = live_server.http.post(
        f"/api/v1/songs/{queued['id']}/vote", json={"vote_value": 1}, headers=guest
    )
    assert vote.status_code == 200, vote.text
    expect(votes).to_have_text("+1", timeout=1000)
    seconds = time.monotonic() - started
    assert seconds < 1.0, f"the vote took {seconds:.2f} s to reach the TV"
    assert polls == []  # nothing came by polling
    assert len(sockets) == 1 and "token" not in sockets[0].url  # the token went in a message

    # The party ends: the TV says so and stays quiet (4404 is final).
    assert live_server.http.post("/api/v1/sessions/end", headers=party.host).status_code == 200
    expect(page.locator("#screen-title")).to_have_text("The party is over")
    page.wait_for_timeout(1500)
    assert len(sockets) == 1 and polls == []


def test_the_tv_polls_only_while_its_socket_is_blocked(
    live_server: LiveServer, open_page: Any
) -> None:
    """A proxy that kills WebSockets: the TV keeps retrying and follows the party by HTTP."""
    party, _ = live_server.create_party()
    live_server.add(party.host, live_server.search(party.host, "dancing queen"))
    page = open_page("about:blank", HD, mobile=False)
    attempts: list[Any] = []

    def refuse(route: Any) -> None:
        attempts.append(route)
        route.close(code=1011, reason="blocked")

    page.route_web_socket(re.compile(r".*/realtime$"), refuse)
    page.goto(live_server.tv_url(party))
    expect(page.locator("#now-title")).to_have_text("Dancing Queen", timeout=20_000)
    expect(page.locator("#live")).to_have_attribute("data-state", "reconnecting")
    live_server.add(party.host, live_server.search(party.host, "billie jean"))
    expect(page.locator("#queue .title")).to_have_text(["Billie Jean"], timeout=20_000)
    assert len(attempts) >= 3


def test_guests_get_clear_messages(live_server: LiveServer, open_page: Any) -> None:
    party, _ = live_server.create_party()
    live_server.add(party.host, live_server.search(party.host, "dancing queen"))
    live_server.add(party.host, live_server.search(party.host, "billie jean"))
    page = open_page(f"{live_server.base_url}/join/ZZZZ99")

    # A wrong code.
    page.fill("#name", "Casey")
    page.click("#join-button")
    expect(page.locator("#join-error")).to_have_text(
        "No party has that code. Check it with your host."
    )
    page.fill("#code", party.code)
    expect(page.locator("#name-field")).to_be_hidden()  # signed in already
    page.click("#join-button")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")

    # A locked queue.
    locked = live_server.http.patch(
        "/api/v1/sessions/control_session", json={"is_locked": True}, headers=party.host
    )
    assert locked.status_code == 200
    expect(page.locator("#locked-note")).to_be_visible()
    page.fill("#search", "september")
    # The search marks say so on the result itself (its add button is disabled).
    result = page.locator("#results li").first
    expect(result.locator(".reason")).to_have_text("The host has locked the queue.")
    expect(result.locator("button.add")).to_be_disabled()

    # Rate limited: the vote is rolled back and the wait is spelled out.
    def limited(route: Any) -> None:
        route.fulfill(
            status=429,
            headers={"Retry-After": "7", "Content-Type": "application/json"},
            body=json.dumps({"detail": "slow down", "code": "rate_limited", "request_id": "t"}),
        )

    page.route(re.compile(r".*/api/v1/songs/[^/]+/vote$"), limited)
    row = page.locator("#queue li").first
    row.locator("button.vote.up").click()
    expect(page.locator("#toast")).to_contain_text("Try again in 7 seconds")
    expect(row.locator(".score")).to_have_text("0")
    expect(row.locator("button.vote.up")).not_to_have_class(re.compile(r"\bon\b"))
    page.unroute(re.compile(r".*/api/v1/songs/[^/]+/vote$"))

    # Offline, then back.
    page.context.set_offline(True)
    expect(page.locator("#banner")).to_contain_text("You're offline")
    expect(page.locator("#live")).to_have_attribute("data-state", "offline")
    shoot(page, "guest-offline-phone")
    page.context.set_offline(False)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#banner")).to_be_hidden()


def test_socket_gap_resyncs_and_drops_reconnect(live_server: LiveServer, open_page: Any) -> None:
    party, _ = live_server.create_party()
    live_server.add(party.host, live_server.search(party.host, "dancing queen"))
    queued = live_server.add(party.host, live_server.search(party.host, "billie jean"))
    page = open_page("about:blank")
    routes: list[Any] = []
    sent: list[dict[str, Any]] = []

    def handler(route: Any) -> None:
        server = route.connect_to_server()
        routes.append(route)

        def forward(message: str | bytes) -> None:
            sent.append(json.loads(message))
            server.send(message)

        route.on_message(forward)

    page.route_web_socket(re.compile(r".*/realtime$"), handler)
    page.goto(f"{live_server.base_url}/join/{party.code}")
    join(page, "Drew")
    assert sent[0]["type"] == "auth"  # the token travels in a message, not the URL
    assert "token" not in routes[0].url

    # An event far ahead of the last version: not applied, a resync is asked instead.
    fake = {
        "event": "votes.updated",
        "session_id": party.id,
        "version": 10**6,
        "ts": "2026-11-27T18:00:00+00:00",
        "data": {
            "queued_song_id": queued["id"],
            "total_votes": 99,
            "entered_tier_by_gain": True,
            "last_entered_tier_at": "2026-11-27T18:00:00+00:00",
        },
    }
    routes[0].send(json.dumps(fake))
    wait_until(page, lambda: {"type": "resync"} in sent)
    expect(page.locator("#queue .score").first).to_have_text("0")

    # The socket drops: the page reconnects by itself and is live again.
    routes[0].close(code=1011, reason="test")
    wait_until(page, lambda: len(routes) == 2)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")

    # 4404 (the session ended) is final: no reconnect, the ended screen instead.
    routes[1].close(code=4404, reason="session ended")
    expect(page.locator("#ended")).to_be_visible()
    page.wait_for_timeout(1500)
    assert len(routes) == 2


def test_page_polls_while_the_socket_is_blocked(live_server: LiveServer, open_page: Any) -> None:
    """A proxy that kills WebSockets: the page keeps retrying and follows the party by HTTP."""
    party, _ = live_server.create_party()
    live_server.add(party.host, live_server.search(party.host, "dancing queen"))
    page = open_page("about:blank")
    attempts: list[Any] = []

    def refuse(route: Any) -> None:
        attempts.append(route)
        route.close(code=1011, reason="blocked")

    page.route_web_socket(re.compile(r".*/realtime$"), refuse)
    page.goto(f"{live_server.base_url}/join/{party.code}")
    page.fill("#name", "Frankie")
    page.click("#join-button")
    expect(page.locator("#now-title")).to_have_text("Dancing Queen")
    expect(page.locator("#live")).to_have_attribute("data-state", "reconnecting")
    live_server.add(party.host, live_server.search(party.host, "billie jean"))
    expect(titles(page)).to_have_text(["Billie Jean"], timeout=20_000)
    assert len(attempts) >= 3


def test_track_names_render_as_text(live_server: LiveServer, open_page: Any) -> None:
    party, _ = live_server.create_party()
    live_server.add(party.host, {"id": "local:evil-1", "source": "local"})
    live_server.add(party.host, {"id": "local:evil-2", "source": "local"})
    page = open_page(f"{live_server.base_url}/join/{party.code}")
    join(page, "<i>Eve</i>")

    expect(page.locator("#now-title")).to_have_text(EVIL_NAME)
    expect(page.locator("#now-artist")).to_have_text(EVIL_ARTISTS)
    expect(titles(page)).to_have_text([EVIL_QUEUED])
    page.fill("#search", "dancing queen")
    page.locator("#results li button.add").first.click()
    expect(page.locator("#queue .sub").last).to_contain_text("<i>Eve</i>")

    screen = open_page(live_server.tv_url(party), HD, mobile=False)
    expect(screen.locator("#now-title")).to_have_text(EVIL_NAME)
    expect(screen.locator("#queue .title").first).to_have_text(EVIL_QUEUED)

    for view in (page, screen):
        view.wait_for_timeout(500)
        assert view.locator("img[src='x']").count() == 0
        assert view.locator("[onload], [onerror], b, :not(.eq) > i").count() == 0
        assert view.locator("script:not([src])").count() == 0
    shoot(page, "guest-injection-phone")


def test_the_rules_that_bite_show_on_the_page(live_server: LiveServer, open_page: Any) -> None:
    """The host's rules reach the guest page: a blocked artist's result is greyed with the
    reason and cannot be added; the vote buttons follow the vote mode, live."""
    party, _ = live_server.create_party()
    live_server.add(party.host, live_server.search(party.host, "dancing queen"))  # plays
    live_server.add(party.host, live_server.search(party.host, "billie jean"))  # waits
    blocked = live_server.http.patch(
        "/api/v1/sessions/current/settings",
        json={"blocked_artists": ["queen"]},
        headers=party.host,
    )
    assert blocked.status_code == 200, blocked.text
    page = open_page(f"{live_server.base_url}/join/{party.code}")
    join(page, "Robin")

    page.fill("#search", "bohemian rhapsody")
    refused = page.locator(
        "#results li", has=page.locator(".title", has_text=re.compile("^Bohemian Rhapsody$"))
    ).first
    expect(refused).to_have_class(re.compile(r"\brefused\b"))
    expect(refused.locator(".reason")).to_have_text(
        "The host has blocked this song or artist at this party."
    )
    expect(refused.locator("button.add")).to_be_disabled()
    # A track the rules allow stays addable; a queued one says so.
    page.fill("#search", "billie jean")
    allowed = page.locator(
        "#results li", has=page.locator(".title", has_text=re.compile("^Billie Jean$"))
    ).first
    expect(allowed.locator("button.add")).to_be_enabled()
    expect(allowed.locator(".in-queue")).to_contain_text("adding it again is your upvote")
    expect(allowed).not_to_have_class(re.compile(r"\brefused\b"))
    shoot(page, "guest-search-refused-phone")

    # Vote modes, live over the socket: up_only drops the downvote, off drops both.
    row = page.locator("#queue li").first
    expect(row.locator("button.vote.down")).to_be_visible()
    for mode, up, down in (("up_only", 1, 0), ("off", 0, 0), ("up_down", 1, 1)):
        changed = live_server.http.patch(
            "/api/v1/sessions/current/settings", json={"vote_mode": mode}, headers=party.host
        )
        assert changed.status_code == 200, changed.text
        expect(row.locator("button.vote.down")).to_have_count(down)
        expect(row.locator("button.vote.up")).to_have_count(up)
    # New rules re-mark the results shown: unblocking makes the result addable again.
    page.fill("#search", "bohemian rhapsody")
    expect(refused.locator("button.add")).to_be_disabled()
    unblocked = live_server.http.patch(
        "/api/v1/sessions/current/settings", json={"blocked_artists": []}, headers=party.host
    )
    assert unblocked.status_code == 200, unblocked.text
    expect(refused.locator("button.add")).to_be_enabled()
    expect(refused.locator(".reason")).to_have_count(0)


def wait_until(
    page: Any, condition: Callable[[], bool], timeout: float = TIMEOUT_MS / 1000
) -> None:
    """Poll through Playwright (its event handlers only run while it is called)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        page.wait_for_timeout(50)


def test_supabase_mode_takes_the_token_from_a_sign_in_link(
    browser: Any, open_page: Any, tmp_path: Path
) -> None:
    """With Supabase auth the page cannot create guests; a Supabase sign-in redirect to
    `/join/CODE#access_token=...` signs the guest in once confirmed, and the token leaves the
    address bar."""
    secret = "supabase-test-secret-" + "s" * 32
    with serve(tmp_path, secret=secret, supabase_jwt_secret=secret) as server:
        party, _ = server.create_party()
        page = open_page(f"{server.base_url}/join/{party.code}")
        expect(page.locator("#supabase-note")).to_be_visible()
        expect(page.locator("#join-button")).to_be_disabled()
        shoot(page, "guest-supabase-phone")

        token = token_for(uuid.uuid4(), is_anonymous=True, secret=secret)
        page.goto(f"{server.base_url}/join/{party.code}#access_token={token}&token_type=bearer")
        # The guest confirms the account first (tests/web/test_sign_in_link.py: login CSRF).
        page.click("#confirm-use")
        expect(page.locator("#signed-in")).to_be_visible()
        assert "access_token" not in page.url
        page.click("#join-button")
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        expect(page.locator("#party-code")).to_have_text(party.code)
        page.close()  # before the server stops: no reconnect attempts in the log


def test_a_browser_guest_joins_a_supabase_server_anonymously(
    browser: Any, open_page: Any, tmp_path: Path
) -> None:
    """With SUPABASE_ANON_KEY the page signs a guest in anonymously at Supabase Auth (a local
    fake issuing ES256 tokens from the JWKS the server trusts), joins with that token, and
    refreshes it before it expires: the socket outlives the first token."""
    from tests.web.fake_supabase import ANON_KEY, FakeSupabaseAuth

    fake = FakeSupabaseAuth(token_seconds=6).start()
    try:
        with serve(tmp_path, supabase_url=fake.base_url, supabase_anon_key=ANON_KEY) as server:
            host = {"Authorization": f"Bearer {fake.access_token()}"}
            profile = {"username": f"dj-{uuid.uuid4().hex[:6]}", "music_provider": "spotify"}
            assert server.http.patch("/api/v1/users/me", json=profile, headers=host).is_success
            created = server.http.post("/api/v1/sessions/create", json={}, headers=host)
            assert created.status_code == 200, created.text
            code = created.json()["session"]["join_code"]

            page = open_page(f"{server.base_url}/join/{code}")
            expect(page.locator("#supabase-note")).to_be_hidden()
            expect(page.locator("#join-button")).to_be_enabled()
            join(page, "Robin Q")
            expect(page.locator("#party-code")).to_have_text(code)
            assert len(fake.signups) == 1 and fake.bad_keys == 0
            assert fake.signups[0] == {"data": {"display_name": "Robin Q"}}
            first = fake.issued[0]
            assert page.evaluate("localStorage.getItem('queueit.token')") == first

            # Tokens last 6 s; the page refreshes them ahead of time, and the socket (which
            # the server closes with 4401 the moment its token expires) stays live.
            wait_until(page, lambda: fake.refreshes >= 2, timeout=30)
            page.wait_for_timeout(1000)
            expect(page.locator("#live")).to_have_attribute("data-state", "live")
            stored = page.evaluate("localStorage.getItem('queueit.token')")
            assert stored == fake.issued[-1] and stored != first
            add_from_search(page, "dancing queen", "Dancing Queen")
            expect(page.locator("#now-title")).to_have_text("Dancing Queen")
            expect(page.locator("#now-by")).to_contain_text("Robin Q")
            page.close()
    finally:
        fake.stop()


def test_socket_replaced_by_newer_ones_waits_for_the_page_to_come_back(
    live_server: LiveServer, open_page: Any
) -> None:
    """4429 (the same account opened newer sockets; this was the oldest): reconnecting at once
    would close the next oldest, so the page pauses until it is shown again."""
    party, _ = live_server.create_party()
    page = open_page("about:blank")
    routes: list[Any] = []

    def handler(route: Any) -> None:
        route.connect_to_server()
        routes.append(route)

    page.route_web_socket(re.compile(r".*/realtime$"), handler)
    page.goto(f"{live_server.base_url}/join/{party.code}")
    join(page, "Robin")

    routes[0].close(code=4429, reason="too many open sockets for this account")
    expect(page.locator("#live")).to_have_attribute("data-state", "paused")
    expect(page.locator("#live-text")).to_have_text("Paused")
    page.wait_for_timeout(1500)  # well past the first reconnect delay (at most 500 ms)
    assert len(routes) == 1

    # The guest comes back to this tab: it reconnects and is live again.
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    wait_until(page, lambda: len(routes) == 2)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")


def test_a_kicked_guest_is_told_and_does_not_reconnect(
    live_server: LiveServer, open_page: Any
) -> None:
    """4410 (the host or a co-host removed this guest) is final: the page says so and does
    not reconnect; a kicked guest may join again, a banned one is told they are banned."""
    party, _ = live_server.create_party()
    page = open_page("about:blank")
    routes: list[Any] = []

    closes: list[tuple[int | None, str | None]] = []

    def handler(route: Any) -> None:
        server = route.connect_to_server()
        routes.append(route)

        def closed(code: int | None, reason: str | None) -> None:
            closes.append((code, reason))
            route.close(code=code, reason=reason)

        server.on_close(closed)

    page.route_web_socket(re.compile(r".*/realtime$"), handler)
    page.goto(f"{live_server.base_url}/join/{party.code}")
    join(page, "Morgan")
    me = page.evaluate("JSON.parse(localStorage.getItem('queueit.user')).id")
    members = f"/api/v1/sessions/{party.id}/members/{me}"

    kicked = live_server.http.post(f"{members}/kick", headers=party.host)
    assert kicked.status_code == 200, kicked.text
    expect(page.locator("#view-join")).to_be_visible()
    expect(page.locator("#join-error")).to_have_text("You were removed from the party.")
    shoot(page, "guest-removed-phone")
    page.wait_for_timeout(1500)  # well past the first reconnect delay (at most 500 ms)
    assert len(routes) == 1

    # A kick is not a ban: joining again works (live: the new socket has its snapshot).
    page.click("#join-button")
    wait_until(page, lambda: len(routes) == 2)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    banned = live_server.http.post(f"{members}/ban", headers=party.host)
    assert banned.status_code == 200, banned.text
    expect(page.locator("#join-error")).to_have_text("You were removed from the party.")
    page.click("#join-button")
    expect(page.locator("#join-error")).to_have_text("You were banned from this party.")
    assert len(routes) == 2
    assert [code for code, _ in closes] == [4410, 4410]


def test_the_page_shows_the_fair_play_order(live_server: LiveServer, open_page: Any) -> None:
    """Under fair play the page keeps the server's order (turns depend on what each guest
    already had played): a guest's first song goes before the host's second and third,
    live when the host turns it on, and after a reload."""
    party, _ = live_server.create_party()
    host_songs = [live_server.search(party.host, q) for q in ("dancing queen", "billie jean")]
    host_songs.append(live_server.search(party.host, "imagine"))
    for song in host_songs:
        live_server.add(party.host, song)  # the first plays
    guest = live_server.host()  # any account: it joins as a guest
    joined = live_server.http.post(
        "/api/v1/sessions/join", json={"join_code": party.code}, headers=guest
    )
    assert joined.status_code == 200, joined.text
    guests_song = live_server.search(guest, "bohemian rhapsody")
    live_server.add(guest, guests_song)
    names = [song["name"] for song in (*host_songs[1:], guests_song)]

    page = open_page(f"{live_server.base_url}/join/{party.code}")
    join(page, "Fay")
    expect(titles(page)).to_have_text(names)  # plain order: oldest first
    fair = live_server.http.patch(
        "/api/v1/sessions/current/settings", json={"fair_play": True}, headers=party.host
    )
    assert fair.status_code == 200, fair.text
    expect(titles(page)).to_have_text([names[2], names[0], names[1]])
    page.reload()
    expect(titles(page)).to_have_text([names[2], names[0], names[1]])
