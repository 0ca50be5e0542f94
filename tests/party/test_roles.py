"""Party roles (issue 20): the host grants and revokes co-hosts; co-hosts skip, lock, pause,
remove songs, kick and ban, but do not end the party or change roles; guests do none of it.
Kicked members may come back, banned ones (and fresh guests from their address, outside the
host's network) may not; the host hands the party over to a member with an account.

The client address is the trusted proxy's X-Forwarded-For (the test client's peer,
127.0.0.1, is a trusted proxy in these settings)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import make_host, make_user, track

API = "/api/v1"
HOST_NETWORK = "192.0.2.10"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"trusted_proxies": ["127.0.0.1/32"]}


def at(headers: dict[str, str], address: str) -> dict[str, str]:
    return {**headers, "X-Forwarded-For": address}


def uid(headers: dict[str, str]) -> str:
    return headers["X-Test-User"]


@dataclass
class Party:
    id: str
    code: str
    host: dict[str, str]


async def make_party(client: httpx.AsyncClient, code: str = "ROLES") -> Party:
    host = await make_host(client)
    response = await client.post(
        f"{API}/sessions/create", json={"join_code": code}, headers=at(host, HOST_NETWORK)
    )
    assert response.status_code == 200, response.text
    return Party(id=response.json()["session"]["id"], code=code, host=host)


async def join(
    client: httpx.AsyncClient,
    party: Party,
    *,
    address: str = "198.51.100.1",
    anonymous: bool = True,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    member = headers or await make_user(
        client,
        anonymous=anonymous,
        username=None if anonymous else f"member-{uuid.uuid4().hex[:8]}",
    )
    joined = await client.post(
        f"{API}/sessions/join", json={"join_code": party.code}, headers=at(member, address)
    )
    assert joined.status_code == 200, joined.text
    return member


def member_url(party: Party, member: dict[str, str], what: str) -> str:
    return f"{API}/sessions/{party.id}/members/{uid(member)}/{what}"


async def current(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"{API}/sessions/current", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def co_hosted(client: httpx.AsyncClient) -> tuple[Party, dict[str, str], dict[str, str]]:
    """A party with a co-host and a guest, each on their own network."""
    party = await make_party(client)
    co_host = await join(client, party, address="198.51.100.2")
    guest = await join(client, party, address="198.51.100.3")
    granted = await client.post(member_url(party, co_host, "co-host"), headers=party.host)
    assert granted.status_code == 200, granted.text
    return party, co_host, guest


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


async def test_the_host_grants_and_revokes_co_host_and_everyone_sees_it(
    client: httpx.AsyncClient,
) -> None:
    party, co_host, guest = await co_hosted(client)
    before = await current(client, guest)
    mine = await current(client, co_host)
    assert mine["my_role"] == "co_host"
    assert [m["id"] for m in mine["session"]["co_hosts"]] == [uid(co_host)]
    assert mine["session"]["co_hosts"][0]["role"] == "co_host"
    assert before["my_role"] == "guest" and before["session"]["host"]["role"] == "host"
    await client.post(f"{API}/songs/add", json=track(1), headers=party.host)  # plays
    added = await client.post(f"{API}/songs/add", json=track(2), headers=co_host)
    assert added.json()["added_by"]["role"] == "co_host"
    assert added.json()["added_by"]["is_host"] is False

    revoked = await client.delete(member_url(party, co_host, "co-host"), headers=party.host)
    assert revoked.status_code == 200
    after = await current(client, co_host)
    assert after["my_role"] == "guest" and after["session"]["co_hosts"] == []
    assert after["session"]["version"] > mine["session"]["version"]
    locked = await client.patch(
        f"{API}/sessions/control_session", json={"is_locked": True}, headers=co_host
    )
    assert_error(locked, 403, "not_manager")


async def test_a_co_host_skips_locks_pauses_and_removes_songs(client: httpx.AsyncClient) -> None:
    party, co_host, guest = await co_hosted(client)
    await client.post(f"{API}/songs/add", json=track(1), headers=party.host)  # plays
    mine = (await client.post(f"{API}/songs/add", json=track(2), headers=guest)).json()
    await client.post(f"{API}/songs/add", json=track(3), headers=guest)
    await client.post(f"{API}/songs/add", json=track(4), headers=guest)
    await client.post(f"{API}/songs/{mine['id']}/vote", json={"vote_value": 1}, headers=party.host)

    control = f"{API}/sessions/control_session"
    for body in ({"is_locked": True}, {"pause_playback": True}, {"skip_current_track": True}):
        response = await client.patch(control, json=body, headers=co_host)
        assert response.status_code == 200, (body, response.text)
    state = await current(client, guest)
    assert state["session"]["is_locked"] and state["session"]["is_paused"]
    assert state["current_song"]["id"] == mine["id"]  # the skip started the next song
    locked = await client.post(f"{API}/songs/add", json=track(5), headers=guest)
    assert_error(locked, 409, "session_locked")
    # Adding while locked stays the host's alone (docs/DOMAIN.md "Roles").
    assert_error(
        await client.post(f"{API}/songs/add", json=track(5), headers=co_host),
        409,
        "session_locked",
    )

    queued = state["queue"][0]["id"]
    removed = await client.delete(f"{API}/songs/{queued}", headers=co_host)
    assert removed.status_code == 200, removed.text
    flood = await client.delete(
        f"{API}/sessions/current/members/{uid(guest)}/songs", headers=co_host
    )
    assert flood.status_code == 200 and flood.json()["removed"] == 1
    assert (await current(client, guest))["queue"] == []


async def test_a_co_host_cannot_end_the_party_or_change_roles(client: httpx.AsyncClient) -> None:
    party, co_host, guest = await co_hosted(client)
    assert_error(await client.post(f"{API}/sessions/end", headers=co_host), 403, "not_host")
    assert_error(
        await client.post(f"{API}/sessions/song_finished", json={}, headers=co_host),
        403,
        "not_host",
    )
    for method in ("POST", "DELETE"):
        response = await client.request(
            method, member_url(party, guest, "co-host"), headers=co_host
        )
        assert_error(response, 403, "not_host")
    over = await client.post(
        f"{API}/sessions/{party.id}/hand-over", json={"user_id": uid(co_host)}, headers=co_host
    )
    assert_error(over, 403, "not_host")
    tv = await client.post(f"{API}/sessions/{party.id}/tv_link", headers=co_host)
    assert_error(tv, 403, "not_host")
    # Nor remove the host, or another co-host.
    assert_error(
        await client.post(member_url(party, party.host, "kick"), headers=co_host),
        403,
        "cannot_remove_host",
    )
    other = await join(client, party, address="198.51.100.4")
    await client.post(member_url(party, other, "co-host"), headers=party.host)
    assert_error(
        await client.post(member_url(party, other, "ban"), headers=co_host), 403, "not_host"
    )
    assert (await current(client, party.host))["session"]["ended_at"] is None


async def test_a_guest_cannot_do_what_hosts_and_co_hosts_do(client: httpx.AsyncClient) -> None:
    party, co_host, guest = await co_hosted(client)
    await client.post(f"{API}/songs/add", json=track(1), headers=party.host)  # plays
    theirs = (await client.post(f"{API}/songs/add", json=track(2), headers=co_host)).json()
    control = f"{API}/sessions/control_session"
    for body in ({"is_locked": True}, {"pause_playback": True}, {"skip_current_track": True}):
        assert_error(await client.patch(control, json=body, headers=guest), 403, "not_manager")
    for what in ("kick", "ban"):
        response = await client.post(member_url(party, co_host, what), headers=guest)
        assert_error(response, 403, "not_manager")
    unban = await client.delete(f"{API}/sessions/{party.id}/bans/{uid(co_host)}", headers=guest)
    assert_error(unban, 403, "not_manager")
    flood = await client.delete(
        f"{API}/sessions/current/members/{uid(co_host)}/songs", headers=guest
    )
    assert_error(flood, 403, "not_manager")
    assert_error(
        await client.delete(f"{API}/songs/{theirs['id']}", headers=guest),
        403,
        "not_allowed_to_remove",
    )
    assert_error(
        await client.post(member_url(party, guest, "co-host"), headers=guest), 403, "not_host"
    )
    state = await current(client, co_host)
    assert not state["session"]["is_locked"] and state["queue_total"] == 1
    assert state["my_role"] == "co_host"


async def test_an_outsider_is_not_a_member_and_unknown_people_are_not_found(
    client: httpx.AsyncClient,
) -> None:
    party, _, guest = await co_hosted(client)
    outsider = await make_user(client, anonymous=True)
    assert_error(
        await client.post(member_url(party, guest, "kick"), headers=outsider), 403, "not_member"
    )
    stranger = await make_user(client, anonymous=True)
    for what in ("kick", "ban", "co-host"):
        response = await client.post(member_url(party, stranger, what), headers=party.host)
        assert_error(response, 404, "member_not_found")
    unban = await client.delete(f"{API}/sessions/{party.id}/bans/{uid(guest)}", headers=party.host)
    assert_error(unban, 404, "ban_not_found")


async def test_a_kicked_member_leaves_with_or_without_their_songs_and_may_return(
    client: httpx.AsyncClient,
) -> None:
    party, co_host, _ = await co_hosted(client)
    await client.post(f"{API}/songs/add", json=track(1), headers=party.host)  # plays
    kept = (await client.post(f"{API}/songs/add", json=track(2), headers=party.host)).json()
    troll = await join(client, party, address="198.51.100.9")
    await client.post(f"{API}/songs/add", json=track(3), headers=troll)
    await client.post(f"{API}/songs/{kept['id']}/vote", json={"vote_value": -1}, headers=troll)
    before = await current(client, party.host)
    assert before["queue_total"] == 2 and before["participant_count"] >= 1

    kicked = await client.post(
        member_url(party, troll, "kick"), json={"remove_songs": True}, headers=co_host
    )
    assert kicked.status_code == 200, kicked.text
    gone = await client.get(f"{API}/sessions/current", headers=troll)
    assert_error(gone, 404, "no_active_session")
    after = await current(client, party.host)
    assert [s["id"] for s in after["queue"]] == [kept["id"]]
    assert after["queue"][0]["votes"] == 0  # their vote went with them
    assert after["session"]["version"] > before["session"]["version"]

    # A kick is not a ban: they may come back with the code; their songs stay this time.
    await join(client, party, address="198.51.100.9", headers=troll)
    await client.post(f"{API}/songs/add", json=track(4), headers=troll)
    again = await client.post(member_url(party, troll, "kick"), headers=party.host)
    assert again.status_code == 200
    assert (await current(client, party.host))["queue_total"] == 2


async def test_a_banned_member_cannot_rejoin_nor_a_fresh_guest_from_their_address(
    client: httpx.AsyncClient,
) -> None:
    party, co_host, _ = await co_hosted(client)
    troll = await join(client, party, address="203.0.113.66")
    await client.post(f"{API}/songs/add", json=track(1), headers=party.host)  # plays
    await client.post(f"{API}/songs/add", json=track(2), headers=troll)
    banned = await client.post(
        member_url(party, troll, "ban"), json={"remove_songs": True}, headers=co_host
    )
    assert banned.status_code == 200, banned.text
    assert (await current(client, party.host))["queue_total"] == 0
    assert_error(
        await client.get(f"{API}/sessions/current", headers=troll), 404, "no_active_session"
    )

    code = {"join_code": party.code}
    for address in ("203.0.113.66", "198.51.100.77"):  # the account, from anywhere
        again = await client.post(f"{API}/sessions/join", json=code, headers=at(troll, address))
        assert_error(again, 403, "banned")
    fresh = await make_user(client, anonymous=True)
    same_address = await client.post(
        f"{API}/sessions/join", json=code, headers=at(fresh, "203.0.113.66")
    )
    assert_error(same_address, 403, "banned")
    elsewhere = await client.post(
        f"{API}/sessions/join", json=code, headers=at(fresh, "198.51.100.78")
    )
    assert elsewhere.status_code == 200

    unbanned = await client.delete(f"{API}/sessions/{party.id}/bans/{uid(troll)}", headers=co_host)
    assert unbanned.status_code == 200
    back = await client.post(f"{API}/sessions/join", json=code, headers=at(troll, "203.0.113.66"))
    assert back.status_code == 200


async def test_a_ban_on_the_hosts_network_bans_the_account_not_the_network(
    client: httpx.AsyncClient,
) -> None:
    party = await make_party(client)
    troll = await join(client, party, address=HOST_NETWORK)
    assert (
        await client.post(member_url(party, troll, "ban"), headers=party.host)
    ).status_code == 200
    code = {"join_code": party.code}
    refused = await client.post(f"{API}/sessions/join", json=code, headers=at(troll, HOST_NETWORK))
    assert_error(refused, 403, "banned")
    friend = await make_user(client, anonymous=True)
    ok = await client.post(f"{API}/sessions/join", json=code, headers=at(friend, HOST_NETWORK))
    assert ok.status_code == 200


async def test_someone_who_left_can_still_be_banned(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    troll = await join(client, party, address="203.0.113.5")
    await client.post(f"{API}/sessions/leave", headers=troll)
    assert (
        await client.post(member_url(party, troll, "ban"), headers=party.host)
    ).status_code == 200
    again = await client.post(
        f"{API}/sessions/join", json={"join_code": party.code}, headers=at(troll, "203.0.113.5")
    )
    assert_error(again, 403, "banned")


async def test_the_host_hands_the_party_over(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    heir = await join(client, party, address="198.51.100.5", anonymous=False)
    guest = await join(client, party, address="198.51.100.6")
    over = f"{API}/sessions/{party.id}/hand-over"
    refused = await client.post(over, json={"user_id": uid(guest)}, headers=party.host)
    assert_error(refused, 409, "guest_cannot_take_over")
    outsider = await make_user(client, username="outsider-1")
    absent = await client.post(over, json={"user_id": uid(outsider)}, headers=party.host)
    assert_error(absent, 409, "guest_cannot_take_over")

    handed = await client.post(
        over, json={"user_id": uid(heir), "old_host_becomes": "guest"}, headers=party.host
    )
    assert handed.status_code == 200, handed.text
    state = await current(client, guest)
    assert state["session"]["host"]["id"] == uid(heir)
    assert state["session"]["co_hosts"] == []
    assert (await current(client, heir))["my_role"] == "host"
    assert (await current(client, party.host))["my_role"] == "guest"
    # The old host is a guest now; the new host ends the party.
    assert_error(await client.post(f"{API}/sessions/end", headers=party.host), 403, "not_host")
    locked = await client.patch(
        f"{API}/sessions/control_session", json={"is_locked": True}, headers=party.host
    )
    assert_error(locked, 403, "not_manager")
    assert (await client.post(f"{API}/sessions/end", headers=heir)).status_code == 200


async def test_the_old_host_may_stay_as_co_host(client: httpx.AsyncClient) -> None:
    party = await make_party(client)
    heir = await join(client, party, address="198.51.100.5", anonymous=False)
    await client.post(member_url(party, heir, "co-host"), headers=party.host)
    handed = await client.post(
        f"{API}/sessions/{party.id}/hand-over",
        json={"user_id": uid(heir), "old_host_becomes": "co_host"},
        headers=party.host,
    )
    assert handed.status_code == 200, handed.text
    state = await current(client, party.host)
    assert state["my_role"] == "co_host"
    assert [m["id"] for m in state["session"]["co_hosts"]] == [uid(party.host)]
    paused = await client.patch(
        f"{API}/sessions/control_session", json={"pause_playback": True}, headers=party.host
    )
    assert paused.status_code == 200
    # The new host can remove the old one now; the old one cannot remove the new.
    assert_error(
        await client.post(member_url(party, heir, "kick"), headers=party.host),
        403,
        "cannot_remove_host",
    )
    assert (
        await client.post(member_url(party, party.host, "kick"), headers=heir)
    ).status_code == 200


async def test_a_member_hosting_another_party_cannot_take_this_one(
    client: httpx.AsyncClient,
) -> None:
    party = await make_party(client, "FIRST")
    other = await make_party(client, "OTHER")
    await join(client, party, address="198.51.100.8", headers=other.host)  # their party stays
    handed = await client.post(
        f"{API}/sessions/{party.id}/hand-over",
        json={"user_id": uid(other.host)},
        headers=party.host,
    )
    assert_error(handed, 409, "member_hosts_another_party")
