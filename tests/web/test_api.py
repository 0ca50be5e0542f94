"""TV links, the TV's read-only view and join QR codes (both databases)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from queueit.web import service, tv
from tests.factories import auth, make_user, token_for, track
from tests.web.conftest import make_guest, make_party, tv_key

TV_LINK = "/api/v1/sessions/{}/tv_link"
TV_STATE = "/api/v1/sessions/{}/tv_state"
QR = "/api/v1/sessions/{}/qr.svg"


def token_of(url: str) -> str:
    return url.split("?token=", 1)[1]


def assert_envelope(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


# ---------------------------------------------------------------- tv_link


async def test_the_host_gets_a_tv_link(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    response = await client.post(TV_LINK.format(party.id), headers=party.host)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["url"].startswith(f"/tv/{party.id}?token=")
    assert body["absolute_url"] == body["url"]  # PUBLIC_BASE_URL unset: never the Host header
    assert body["expires_in"] == 12 * 3600
    claims = jwt.decode(
        token_of(body["url"]), options={"verify_signature": False}, algorithms=["HS256"]
    )
    assert claims["sub"] == party.id
    assert claims["scope"] == "tv"
    assert claims["exp"] - claims["iat"] == 12 * 3600


async def test_only_the_host_gets_a_tv_link(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    guest = await make_guest(client, party)
    stranger = await make_user(client)
    for headers in (guest, stranger):
        response = await client.post(TV_LINK.format(party.id), headers=headers)
        assert_envelope(response, 403, "not_host")
    assert_envelope(await client.post(TV_LINK.format(party.id)), 401, "token_missing")


async def test_no_tv_link_for_an_ended_or_unknown_party(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    assert (await client.post("/api/v1/sessions/end", headers=party.host)).status_code == 200
    response = await client.post(TV_LINK.format(party.id), headers=party.host)
    assert_envelope(response, 404, "no_active_session")
    response = await client.post(TV_LINK.format(uuid.uuid4()), headers=party.host)
    assert_envelope(response, 404, "no_active_session")
    assert (await client.post("/api/v1/sessions/not-a-uuid/tv_link")).status_code == 404


@pytest.mark.parametrize(
    "settings_overrides",
    [{"public_base_url": "https://party.example.com/", "tv_link_ttl_seconds": 600}],
)
async def test_tv_link_uses_public_base_url_and_ttl(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    body = (await client.post(TV_LINK.format(party.id), headers=party.host)).json()
    assert body["absolute_url"] == "https://party.example.com" + body["url"]
    assert body["expires_in"] == 600


# ---------------------------------------------------------------- tv_state


async def test_tv_state_with_a_good_token(client: httpx.AsyncClient) -> None:
    party = await make_party(client, songs=3)
    guest = await make_guest(client, party)
    current = (await client.get("/api/v1/sessions/current", headers=guest)).json()
    voted = current["queue"][1]["id"]
    vote = await client.post(f"/api/v1/songs/{voted}/vote", json={"vote_value": 1}, headers=guest)
    assert vote.status_code == 200
    link = (await client.post(TV_LINK.format(party.id), headers=party.host)).json()

    response = await client.get(TV_STATE.format(party.id), params={"token": token_of(link["url"])})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    view = response.json()
    assert view["session"]["id"] == party.id
    assert view["session"]["join_code"] == party.code
    assert view["current_song"]["song"]["name"] == track(0)["name"]
    assert view["queue"][0]["id"] == voted  # the vote moved it up
    assert view["queue_total"] == 2
    assert view["my_votes"] == {}  # the TV is nobody
    assert view["user_requested_skip"] is False
    assert view["participant_count"] == 2


async def test_tv_state_refuses_expired_forged_and_foreign_tokens(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    party = await make_party(client)
    other = await make_party(client)
    key = tv_key(app)
    url = TV_STATE.format(party.id)

    expired = tv.mint(key, party_id=uuid.UUID(party.id), ttl_seconds=-120)
    assert_envelope(await client.get(url, params={"token": expired}), 401, "token_expired")

    forged = tv.mint(
        b"not the server key, but long enough" * 2, party_id=uuid.UUID(party.id), ttl_seconds=600
    )
    assert_envelope(await client.get(url, params={"token": forged}), 401, "token_invalid")

    foreign = tv.mint(key, party_id=uuid.UUID(other.id), ttl_seconds=600)
    response = await client.get(url, params={"token": foreign})
    assert_envelope(response, 401, "token_invalid")
    assert "another party" in response.json()["detail"]

    assert_envelope(await client.get(url), 401, "token_missing")
    assert_envelope(await client.get(url, params={"token": "garbage"}), 401, "token_invalid")


async def test_tv_tokens_and_access_tokens_never_stand_in_for_each_other(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    party = await make_party(client)
    key = tv_key(app)
    tv_token = tv.mint(key, party_id=uuid.UUID(party.id), ttl_seconds=600)
    # A TV token is no access token...
    assert_envelope(
        await client.get("/api/v1/users/me", headers=auth(tv_token)), 401, "token_invalid"
    )
    # ...an access token is no TV token, even one whose subject is the party id...
    url = TV_STATE.format(party.id)
    host_token = party.host["Authorization"].removeprefix("Bearer ")
    assert_envelope(await client.get(url, params={"token": host_token}), 401, "token_invalid")
    lookalike = token_for(uuid.UUID(party.id), scope="tv")
    assert_envelope(await client.get(url, params={"token": lookalike}), 401, "token_invalid")
    # ...and the right claims signed with the server's key but the wrong scope or no
    # signature at all are refused.
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": party.id,
        "aud": tv.AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "scope": "admin",
    }
    wrong_scope = jwt.encode(claims, key, algorithm="HS256")
    assert_envelope(await client.get(url, params={"token": wrong_scope}), 401, "token_invalid")
    unsigned = jwt.encode({**claims, "scope": "tv"}, None, algorithm="none")
    assert_envelope(await client.get(url, params={"token": unsigned}), 401, "token_invalid")
    # Bearer headers do not open the TV view.
    assert_envelope(await client.get(url, headers=party.host), 401, "token_missing")


async def test_tv_state_after_the_party_ended(client: httpx.AsyncClient) -> None:
    party = await make_party(client, songs=1)
    link = (await client.post(TV_LINK.format(party.id), headers=party.host)).json()
    assert (await client.post("/api/v1/sessions/end", headers=party.host)).status_code == 200
    response = await client.get(TV_STATE.format(party.id), params={"token": token_of(link["url"])})
    assert_envelope(response, 404, "no_active_session")


# ---------------------------------------------------------------- qr.svg


async def test_members_get_the_join_qr_code(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    guest = await make_guest(client, party)
    for headers in (party.host, guest):
        response = await client.get(QR.format(party.id), headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.text.startswith("<svg")
        assert "<script" not in response.text
        assert "default-src 'none'" in response.headers["content-security-policy"]
        # The same link rendered by segno gives the same picture: the code encodes it.
        expected = service.qr_svg(f"http://test/join?code={party.code}")
        assert response.content == expected


@pytest.mark.parametrize("settings_overrides", [{"public_base_url": "https://party.example.com"}])
async def test_qr_code_points_at_public_base_url(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    response = await client.get(QR.format(party.id), headers=party.host)
    assert response.content == service.qr_svg(f"https://party.example.com/join?code={party.code}")


async def test_qr_code_refuses_non_members(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    stranger = await make_user(client)
    assert_envelope(await client.get(QR.format(party.id), headers=stranger), 403, "not_member")
    assert_envelope(await client.get(QR.format(party.id)), 401, "token_missing")
    response = await client.get(QR.format(uuid.uuid4()), headers=party.host)
    assert_envelope(response, 404, "no_active_session")


async def test_qr_code_with_a_tv_token(client: httpx.AsyncClient, app: FastAPI) -> None:
    party = await make_party(client)
    other = await make_party(client)
    link = (await client.post(TV_LINK.format(party.id), headers=party.host)).json()
    response = await client.get(QR.format(party.id), params={"token": token_of(link["url"])})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    foreign = tv.mint(tv_key(app), party_id=uuid.UUID(other.id), ttl_seconds=600)
    assert_envelope(
        await client.get(QR.format(party.id), params={"token": foreign}), 401, "token_invalid"
    )


async def test_web_routes_are_documented_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path in ("tv_link", "tv_state", "qr.svg"):
        operations = schema["paths"][f"/api/v1/sessions/{{session_id}}/{path}"]
        for operation in operations.values():
            assert operation["summary"] and operation["description"]
            assert "429" in operation["responses"]
    qr = schema["paths"]["/api/v1/sessions/{session_id}/qr.svg"]["get"]
    assert "image/svg+xml" in qr["responses"]["200"]["content"]
    assert not any(path.startswith(("/join", "/tv/", "/web/")) for path in schema["paths"])


async def test_the_tv_shows_the_co_hosts(client: httpx.AsyncClient) -> None:
    party = await make_party(client, songs=1)
    co_host = await make_guest(client, party)
    granted = await client.post(
        f"/api/v1/sessions/{party.id}/members/{co_host['X-Test-User']}/co-host",
        headers=party.host,
    )
    assert granted.status_code == 200
    added = await client.post("/api/v1/songs/add", json=track(7), headers=co_host)
    assert added.status_code == 200
    link = (await client.post(TV_LINK.format(party.id), headers=party.host)).json()
    view = (
        await client.get(TV_STATE.format(party.id), params={"token": token_of(link["url"])})
    ).json()
    assert [m["id"] for m in view["session"]["co_hosts"]] == [co_host["X-Test-User"]]
    assert view["queue"][0]["added_by"]["role"] == "co_host"
    assert view["session"]["host"]["role"] == "host" and view["my_role"] == "guest"
