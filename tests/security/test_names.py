"""Hostile guests, attack 4 (invisible and look-alike names): one text rule (core/text.py)
refuses invisible characters, joiners with nothing to join and piles of combining marks in
every text field, and is the pattern the OpenAPI schema publishes; a guest may not take a
name that passes for the host's; the host is marked in the snapshot."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.factories import auth, make_user, track

ME = "/api/v1/users/me"
SESSIONS = "/api/v1/sessions"

INVISIBLE_OR_PILED = [
    "\u3164",  # Hangul filler: a name that shows as nothing
    "\u3164\u3164\u3164",
    "\u115fSam",  # Hangul choseong filler
    "\u1160Sam",
    "Sam\uffa0",  # halfwidth Hangul filler
    "Sam\U000e0041",  # tag character
    "\U000e0073\U000e0061\U000e006d",
    "So\u00adphie",  # soft hyphen
    "a\u034fb",  # combining grapheme joiner
    "a\u180eb",  # Mongolian vowel separator
    "\u200dSam",  # a leading zero-width joiner
    "Sam\u200d",
    "S\u200d\u200dam",
    "\u200cSam",
    "Sam\u200e",  # left-to-right mark
    "\u061cSam",  # Arabic letter mark
    "Za" + "\u0301" * 4 + "lgo",  # more than three combining marks in a row
    "\u0301Sam",  # a mark with no letter under it
    "Sam \u0308",
    "x\ufe0f\ufe0f\ufe0f\ufe0f",  # variation selectors are marks too
]
HONEST = [
    "Sam",
    "Vie\u0323\u0302t",  # Vietnamese typed decomposed: two marks
    "\u05e9\u05bc\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd",  # pointed Hebrew: three
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a family emoji (ZWJ sequence)
    "\u2764\ufe0f Ana",  # emoji presentation selector
    "\u0928\u093f\u0916\u093f\u0932",  # Devanagari
    "ชลธิชา",  # Thai
    "Zoë",
]


async def sign_in(client: httpx.AsyncClient, name: str) -> httpx.Response:
    return await client.post("/api/v1/auth/anonymous", json={"display_name": name})


@pytest.mark.parametrize("name", INVISIBLE_OR_PILED)
async def test_invisible_and_piled_up_names_are_refused(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await sign_in(client, name)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert any(item["loc"][-1] == "display_name" for item in body["detail"])


@pytest.mark.parametrize("name", HONEST)
async def test_real_names_in_any_script_are_accepted(client: httpx.AsyncClient, name: str) -> None:
    response = await sign_in(client, name)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["display_name"]


@pytest.mark.parametrize("username", ["\u3164abc", "abc\u00ad", "abc\U000e0041", "\u200dabc"])
async def test_invisible_usernames_are_refused(client: httpx.AsyncClient, username: str) -> None:
    user = await make_user(client)
    response = await client.patch(ME, json={"username": username}, headers=user)
    assert response.status_code == 422, response.text


async def test_the_schema_publishes_the_rule_it_enforces(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    field = schema["components"]["schemas"]["AnonymousSignIn"]["properties"]["display_name"]
    options: list[dict[str, Any]] = field.get("anyOf", [field])
    pattern = next(option["pattern"] for option in options if "pattern" in option)
    for name in INVISIBLE_OR_PILED:
        assert re.search(pattern, name) is None, repr(name)
    for name in HONEST:
        assert re.search(pattern, name) is not None, repr(name)
    # Track text follows the same rule.
    track_field = schema["components"]["schemas"]["AddSongIn"]["properties"]["name"]
    options = track_field.get("anyOf", [track_field])
    track_name = next(option["pattern"] for option in options if "pattern" in option)
    assert re.search(track_name, "Song\u3164") is None


async def host_party(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    host = await make_user(client, username="host-alice", provider="spotify")
    created = await client.post(f"{SESSIONS}/create", json={}, headers=host)
    assert created.status_code == 200, created.text
    return host, created.json()["session"]["join_code"]


@pytest.mark.parametrize(
    "name",
    ["host-alice", "HOST_ALICE", "Host Alice", "h0st.\u0430lice", "Alice", "ALICE (host)",
     "\uff41\uff4c\uff49\uff43\uff45", "Al1ce", "Host"],
)  # fmt: skip
async def test_a_guest_cannot_pass_for_the_host(client: httpx.AsyncClient, name: str) -> None:
    _, code = await host_party(client)
    signed_in = await sign_in(client, name)
    assert signed_in.status_code == 200, signed_in.text
    guest = auth(signed_in.json()["access_token"])
    joined = await client.post(f"{SESSIONS}/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 409, joined.text
    assert joined.json()["code"] == "name_imitates_host"
    assert (await client.get(f"{SESSIONS}/current", headers=guest)).status_code == 404


async def test_honest_names_join_and_the_host_is_marked(client: httpx.AsyncClient) -> None:
    host, code = await host_party(client)
    guest = auth((await sign_in(client, "Sam")).json()["access_token"])
    joined = await client.post(f"{SESSIONS}/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    assert joined.json()["session"]["host"]["is_host"] is True
    assert (await client.post("/api/v1/songs/add", json=track(1), headers=host)).status_code == 200
    assert (await client.post("/api/v1/songs/add", json=track(2), headers=guest)).status_code == 200
    current = (await client.get(f"{SESSIONS}/current", headers=guest)).json()
    assert current["current_song"]["added_by"]["username"] == "host-alice"
    assert current["current_song"]["added_by"]["is_host"] is True
    assert [song["added_by"]["is_host"] for song in current["queue"]] == [False]
    assert current["queue"][0]["added_by"]["display_name"] == "Sam"


async def test_a_member_cannot_rename_after_the_host(client: httpx.AsyncClient) -> None:
    _, code = await host_party(client)
    member = await make_user(client, username="bob")
    joined = await client.post(f"{SESSIONS}/join", json={"join_code": code}, headers=member)
    assert joined.status_code == 200
    renamed = await client.patch(ME, json={"username": "Host_Alice"}, headers=member)
    assert renamed.status_code == 409, renamed.text
    assert renamed.json()["code"] == "name_imitates_host"
    assert (await client.get(ME, headers=member)).json()["username"] == "bob"
    honest = await client.patch(ME, json={"username": "bob-the-dj"}, headers=member)
    assert honest.status_code == 200, honest.text


async def test_a_guest_cannot_rename_their_display_name_after_the_host(
    client: httpx.AsyncClient,
) -> None:
    _, code = await host_party(client)
    guest = auth((await sign_in(client, "Sam")).json()["access_token"])
    joined = await client.post(f"{SESSIONS}/join", json={"join_code": code}, headers=guest)
    assert joined.status_code == 200, joined.text
    renamed = await client.patch(ME, json={"display_name": "Alice (host)"}, headers=guest)
    assert renamed.status_code == 409, renamed.text
    assert renamed.json()["code"] == "name_imitates_host"
    assert (await client.get(ME, headers=guest)).json()["display_name"] == "Sam"
    honest = await client.patch(ME, json={"display_name": "Sam the fan"}, headers=guest)
    assert honest.status_code == 200, honest.text
