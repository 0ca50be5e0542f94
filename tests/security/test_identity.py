"""Hostile guests, attack 1 (host takeover in local mode): a guest names itself like the
operator, the operator mints a token for that name with the CLI, and the guest's own token
then hosts. Guests may not take usernames, the CLI never hands out a guest's row, and a
local full-account token never upgrades a guest."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import update

from queueit.core.engine import create_engine
from queueit.core.security import mint_local_token
from queueit.core.settings import Settings
from queueit.users.models import User
from tests.auth.test_cli import ENV_NAMES, run, use_database
from tests.conftest import TEST_SECRET
from tests.factories import auth

ME = "/api/v1/users/me"
SESSIONS = "/api/v1/sessions"


@pytest.fixture(autouse=True)
def no_queueit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


async def guest_token(client: httpx.AsyncClient, name: str = "Sam") -> tuple[str, str]:
    response = await client.post("/api/v1/auth/anonymous", json={"display_name": name})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["access_token"], body["user"]["id"]


async def give_username(settings: Settings, user_id: str, username: str) -> None:
    """A database from before the fix: a guest's row that already holds a username."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(User).where(User.id == uuid.UUID(user_id)).values(username=username)
            )
    finally:
        await engine.dispose()


async def test_guest_cannot_take_a_username(client: httpx.AsyncClient) -> None:
    token, _ = await guest_token(client)
    response = await client.patch(
        ME, json={"username": "dj-sam", "music_provider": "spotify"}, headers=auth(token)
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "username_needs_account"
    me = (await client.get(ME, headers=auth(token))).json()
    assert me["username"] is None
    assert me["music_provider"] == "none"  # nothing of the refused request was applied
    # A guest still sets what a guest needs.
    ok = await client.patch(ME, json={"storefront": "gb"}, headers=auth(token))
    assert ok.status_code == 200, ok.text


async def test_the_cli_never_turns_a_guest_into_the_operator(
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_database(monkeypatch, settings)
    guest, guest_id = await guest_token(client)
    refused = await client.patch(
        ME, json={"username": "dj-sam", "music_provider": "spotify"}, headers=auth(guest)
    )
    assert refused.status_code == 403
    # Even when the guest's row holds the name (data from before the fix) ...
    await give_username(settings, guest_id, "dj-sam")
    code, out, err = await run(["token", "--username", "DJ-Sam"], capsys)
    assert code == 2
    assert out == ""  # no token at all
    assert "belongs to a guest" in err and "Supabase" in err
    me = (await client.get(ME, headers=auth(guest))).json()
    assert me["is_anonymous"] is True
    cannot_host = await client.post(f"{SESSIONS}/create", json={}, headers=auth(guest))
    assert cannot_host.status_code == 403
    assert cannot_host.json()["code"] == "guest_cannot_host"

    # The honest path: the operator picks a new name and hosts; the guest joins and cannot
    # take the party over.
    code, out, err = await run(["token", "--username", "dj-sam-2"], capsys)
    assert code == 0, err
    operator = auth(out.strip())
    party = await client.post(f"{SESSIONS}/create", json={}, headers=operator)
    assert party.status_code == 200, party.text
    party_id, join_code = party.json()["session"]["id"], party.json()["session"]["join_code"]
    joined = await client.post(
        f"{SESSIONS}/join", json={"join_code": join_code}, headers=auth(guest)
    )
    assert joined.status_code == 200, joined.text
    lock = await client.patch(
        f"{SESSIONS}/control_session", json={"is_locked": True}, headers=auth(guest)
    )
    assert lock.status_code == 403, lock.text
    assert (
        await client.post(f"{SESSIONS}/{party_id}/tv_link", headers=auth(guest))
    ).status_code == 403
    end = await client.post(f"{SESSIONS}/end", headers=auth(guest))
    assert end.status_code == 403, end.text
    current = await client.get(f"{SESSIONS}/current", headers=operator)
    assert current.status_code == 200
    assert current.json()["session"]["is_locked"] is False
    assert (await client.post(f"{SESSIONS}/end", headers=operator)).status_code == 200


async def test_a_local_full_account_token_never_upgrades_a_guest(
    client: httpx.AsyncClient,
) -> None:
    """What the old CLI minted for a guest's row: refused, and the row stays a guest's."""
    guest, guest_id = await guest_token(client)
    forged = mint_local_token(
        TEST_SECRET, sub=uuid.UUID(guest_id), is_anonymous=False, ttl_seconds=60
    )
    response = await client.get(ME, headers=auth(forged))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "guest_upgrade_unavailable"
    assert (await client.get(ME, headers=auth(guest))).json()["is_anonymous"] is True
