"""The one ordering rule (DOMAIN.md), pinned with exact expected orders."""

from __future__ import annotations

import httpx

from tests.factories import make_host, make_user, track

API = "/api/v1"


# Added tracks carry the catalog's names: the songs are told apart by these labels.
LABELS = {track(label)["name"]: label for label in ("P", "B", "C", "D")}


async def _order(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    body = (await client.get(f"{API}/sessions/current", headers=headers)).json()
    return [LABELS[item["song"]["name"]] for item in body["queue"]]


async def test_tier_rule(client: httpx.AsyncClient) -> None:
    host = await make_host(client)
    await client.post(f"{API}/sessions/create", json={"join_code": "ORDER"}, headers=host)
    users = [await make_user(client, anonymous=True) for _ in range(3)]
    for user in users:
        await client.post(f"{API}/sessions/join", json={"join_code": "ORDER"}, headers=user)
    await client.post(f"{API}/songs/add", json=track("P"), headers=host)
    ids = {}
    for name in "BCD":
        ids[name] = (await client.post(f"{API}/songs/add", json=track(name), headers=host)).json()[
            "id"
        ]

    async def vote(user: int, name: str, value: int | None) -> None:
        url = f"{API}/songs/{ids[name]}/vote"
        if value is None:
            response = await client.delete(url, headers=users[user])
        else:
            response = await client.post(url, json={"vote_value": value}, headers=users[user])
        assert response.status_code == 200

    assert await _order(client, host) == ["B", "C", "D"]  # all added: oldest first
    await vote(0, "D", 1)  # D rises to 1
    assert await _order(client, host) == ["D", "B", "C"]
    await vote(1, "C", 1)  # C rises to 1 later than D: gainers oldest first
    assert await _order(client, host) == ["D", "C", "B"]
    await vote(1, "C", None)  # C falls back to 0: fallers come before risers/added
    assert await _order(client, host) == ["D", "C", "B"]
    await vote(0, "B", 1)  # B rises to 1 after D
    assert await _order(client, host) == ["D", "B", "C"]
    await vote(2, "D", -1)  # D falls to 0, more recently than C: most recent faller first
    assert await _order(client, host) == ["B", "D", "C"]
    await vote(2, "D", -1)  # re-casting the same vote changes nothing
    assert await _order(client, host) == ["B", "D", "C"]
    await vote(0, "D", -1)  # flipping +1 to -1 is a loss: D falls to -2
    assert await _order(client, host) == ["B", "C", "D"]

    # The same rule decides what plays next.
    await client.post(f"{API}/sessions/song_finished", json={}, headers=host)
    current = (await client.get(f"{API}/sessions/current", headers=host)).json()
    assert LABELS[current["current_song"]["song"]["name"]] == "B"
    assert [LABELS[s["song"]["name"]] for s in current["queue"]] == ["C", "D"]
