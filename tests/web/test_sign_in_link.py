"""Hostile guests, attack 8 (login CSRF on the guest page): a link carrying someone else's
token in `#access_token=` must not replace the guest's sign-in. Local mode never takes a token
from the URL; Supabase mode shows whose account it is and takes it only on "Use this
account". The fragment leaves the address bar either way. Headless Chromium against a real
`queueit serve`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.factories import auth, token_for
from tests.web import test_browser
from tests.web.conftest import LiveServer, serve
from tests.web.test_browser import expect, join, shoot

pytestmark = pytest.mark.slow
open_page = test_browser.open_page  # the fixture: a page in its own browser context


def stored_token(page: Any) -> str | None:
    value: str | None = page.evaluate("() => localStorage.getItem('queueit.token')")
    return value


def test_local_mode_never_takes_a_token_from_the_url(
    live_server: LiveServer, open_page: Any
) -> None:
    party, _ = live_server.create_party()
    live_server.add(party.host, live_server.search(party.host, "a"))
    page = open_page(f"{live_server.base_url}/join/{party.code}")
    join(page, "Alex")
    mine = stored_token(page)
    assert mine
    # The host's song is marked with a badge no name can fake.
    expect(page.locator("#now-by .host-badge")).to_have_text("Host")

    # The attacker's own full-account token, minted with the server's secret.
    attacker = token_for(uuid.uuid4(), secret=live_server.secret)
    page.goto(f"{live_server.base_url}/join/{party.code}#access_token={attacker}")
    expect(page.locator("#view-party")).to_be_visible()
    assert "access_token" not in page.url
    assert page.locator("#confirm-account").is_hidden()
    assert stored_token(page) == mine
    page.wait_for_timeout(300)
    assert stored_token(page) == mine  # nothing replaced it later either
    page.close()


def test_supabase_mode_asks_whose_account_a_link_signs_in(
    browser: Any, open_page: Any, tmp_path: Path
) -> None:
    secret = "supabase-test-secret-" + "s" * 32
    with serve(tmp_path, secret=secret, supabase_jwt_secret=secret) as server:
        party, _ = server.create_party()
        # The attacker's account, with a name the page shows.
        attacker = token_for(uuid.uuid4(), secret=secret, email="mallory@example.com")
        named = server.http.patch(
            "/api/v1/users/me", json={"username": "mallory"}, headers=auth(attacker)
        )
        assert named.status_code == 200, named.text

        # The victim's own sign-in is on the device; the attacker's link arrives.
        victim = token_for(uuid.uuid4(), is_anonymous=True, secret=secret)
        page = open_page(f"{server.base_url}/join/{party.code}#access_token={victim}")
        page.click("#confirm-use")
        expect(page.locator("#signed-in")).to_be_visible()
        assert stored_token(page) == victim

        page.goto(f"{server.base_url}/join/{party.code}#access_token={attacker}")
        expect(page.locator("#confirm-account")).to_be_visible()
        expect(page.locator("#confirm-name")).to_have_text("mallory (mallory@example.com)")
        assert "access_token" not in page.url  # gone before any decision
        assert stored_token(page) == victim  # nothing replaced yet
        shoot(page, "guest-confirm-account-phone")
        page.click("#confirm-ignore")
        expect(page.locator("#confirm-account")).to_be_hidden()
        expect(page.locator("#signed-in")).to_be_visible()
        assert stored_token(page) == victim
        page.click("#join-button")
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        members = server.http.get("/api/v1/sessions/current", headers=auth(attacker))
        assert members.status_code == 404  # the attacker's account was never used to join

        # A fresh device: ignoring leaves it signed out; the honest link, confirmed, works.
        fresh = open_page(f"{server.base_url}/join/{party.code}#access_token={attacker}")
        expect(fresh.locator("#confirm-account")).to_be_visible()
        fresh.click("#confirm-ignore")
        expect(fresh.locator("#supabase-note")).to_be_visible()
        expect(fresh.locator("#join-button")).to_be_disabled()
        assert stored_token(fresh) is None

        own = token_for(uuid.uuid4(), secret=secret, email="sam@example.com")
        fresh.goto(f"{server.base_url}/join/{party.code}#access_token={own}")
        expect(fresh.locator("#confirm-name")).to_contain_text("sam@example.com")
        fresh.click("#confirm-use")
        expect(fresh.locator("#signed-in")).to_be_visible()
        assert stored_token(fresh) == own
        fresh.click("#join-button")
        expect(fresh.locator("#live")).to_have_attribute("data-state", "live")
        page.close()
        fresh.close()
