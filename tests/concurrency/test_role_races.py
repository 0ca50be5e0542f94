"""Real concurrent requests on PostgreSQL: a hand-over racing the host's own actions (another
hand-over, a lock, ending the party) settles to one host, whichever commits first."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.factories import make_host, make_user

API = "/api/v1"
pytestmark = pytest.mark.postgres_only


async def _party_with_heirs(
    client: httpx.AsyncClient, heirs: int
) -> tuple[str, dict[str, str], list[dict[str, str]]]:
    host = await make_host(client)
    code = "R" + uuid.uuid4().hex[:7].upper()
    created = await client.post(f"{API}/sessions/create", json={"join_code": code}, headers=host)
    members = [
        await make_user(client, username=f"heir-{uuid.uuid4().hex[:8]}") for _ in range(heirs)
    ]
    for member in members:
        joined = await client.post(f"{API}/sessions/join", json={"join_code": code}, headers=member)
        assert joined.status_code == 200, joined.text
    return created.json()["session"]["id"], host, members


def _hand_over(
    client: httpx.AsyncClient, party_id: str, host: dict[str, str], heir: dict[str, str]
) -> asyncio.Future[httpx.Response]:
    return asyncio.ensure_future(
        client.post(
            f"{API}/sessions/{party_id}/hand-over",
            json={"user_id": heir["X-Test-User"], "old_host_becomes": "guest"},
            headers=host,
        )
    )


async def test_two_simultaneous_hand_overs_leave_one_host(client: httpx.AsyncClient) -> None:
    party_id, host, heirs = await _party_with_heirs(client, 2)
    responses = await asyncio.gather(*(_hand_over(client, party_id, host, h) for h in heirs))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 403], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 403)
    assert refused.json()["code"] == "not_host"
    winner = heirs[[r.status_code for r in responses].index(200)]
    for viewer in (host, *heirs):
        state = (await client.get(f"{API}/sessions/current", headers=viewer)).json()
        assert state["session"]["host"]["id"] == winner["X-Test-User"]
        assert state["session"]["co_hosts"] == []
        assert state["my_role"] == ("host" if viewer is winner else "guest")


async def test_a_hand_over_racing_the_hosts_locks_settles_to_one_host(
    client: httpx.AsyncClient,
) -> None:
    party_id, host, (heir,) = await _party_with_heirs(client, 1)
    locks = [
        asyncio.ensure_future(
            client.patch(
                f"{API}/sessions/control_session", json={"is_locked": n % 2 == 0}, headers=host
            )
        )
        for n in range(8)
    ]
    handed = await _hand_over(client, party_id, host, heir)
    answers = await asyncio.gather(*locks)
    assert handed.status_code == 200, handed.text
    # Each lock ran wholly before the hand-over (as the host) or wholly after (as a guest).
    assert {(r.status_code, r.json().get("code")) for r in answers} <= {
        (200, None),
        (403, "not_manager"),
    }
    state = (await client.get(f"{API}/sessions/current", headers=heir)).json()
    assert state["my_role"] == "host" and state["session"]["host"]["id"] == heir["X-Test-User"]
    after = await client.patch(
        f"{API}/sessions/control_session", json={"is_locked": True}, headers=host
    )
    assert after.status_code == 403 and after.json()["code"] == "not_manager"


async def test_a_hand_over_racing_the_end_of_the_party(client: httpx.AsyncClient) -> None:
    for _ in range(4):
        party_id, host, (heir,) = await _party_with_heirs(client, 1)
        end = asyncio.ensure_future(client.post(f"{API}/sessions/end", headers=host))
        handed, ended = await asyncio.gather(_hand_over(client, party_id, host, heir), end)
        if handed.status_code == 200:  # the hand-over first: the old host cannot end it
            assert ended.status_code == 403 and ended.json()["code"] == "not_host"
            state = (await client.get(f"{API}/sessions/current", headers=heir)).json()
            assert state["session"]["host"]["id"] == heir["X-Test-User"]
        else:  # the end first: nothing is left to hand over
            assert ended.status_code == 200, ended.text
            assert handed.status_code == 404 and handed.json()["code"] == "no_active_session"
            gone = await client.get(f"{API}/sessions/current", headers=heir)
            assert gone.status_code == 404
