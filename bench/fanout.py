"""The one realtime fan-out measurement (scenario 4 runs it in every case): parties made
through the API, N WebSocket members each, votes at a fixed rate, open loop (vote k leaves at
start + k/rate whether or not earlier ones finished). Every vote is a member's first +1 on a
song, so `(song, total)` names exactly one `votes.updated` and every vote is a change.

Latency is measured three ways: from the event's `ts` (stamped by the server right after the
commit; same machine, same clock) to receipt, the commit-to-screen figure the targets use;
from the vote's HTTP response to receipt (negative when the event beat the response, as it
usually does: events are handed to the hub before the response is written); and from the
moment the vote request was sent (an upper bound). Also: memory per idle connection.

The members are `bench/ws_client.py` sockets: a frame costs the load generator a JSON decode
and a dict write, so with 1,000 sockets at 5,000 frames/s the figure is the server's, not the
client's (the `websockets` client, a reader task per socket, took most of its core there)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from bench import ws_client
from bench.harness import Server, bearer, gather_bounded, token
from bench.stats import latency_summary, percentile
from queueit.catalog.local import DEMO_CATALOG_PATH, load_tracks


@dataclass
class Party:
    session_id: str
    host: str
    members: list[str]  # tokens
    songs: list[str]  # queued song ids members can vote on (the first added one plays)


_DEMO_IDS = [t.id for t in load_tracks(DEMO_CATALOG_PATH)]


def track(n: int) -> dict[str, Any]:
    """The n-th track of the bundled catalog (added tracks are verified: invented ids are
    refused); distinct for n below its size (~700)."""
    return {"id": _DEMO_IDS[n % len(_DEMO_IDS)], "source": "local"}


async def make_party(http: httpx.AsyncClient, members: int, songs: int = 0) -> Party:
    """A host (named, so it may create a party), `members` joined guests and `songs` votable
    songs (one more is added first: it starts playing)."""
    host = token(uuid.uuid4(), anonymous=False)
    await http.patch(
        "/api/v1/users/me",
        json={"username": f"bench-{uuid.uuid4().hex[:8]}", "music_provider": "spotify"},
        headers=bearer(host),
    )
    code = "B" + uuid.uuid4().hex[:8].upper()
    created = await http.post(
        "/api/v1/sessions/create", json={"join_code": code}, headers=bearer(host)
    )
    created.raise_for_status()
    tokens = [token(uuid.uuid4(), anonymous=True) for _ in range(members)]

    async def join(tok: str) -> None:
        joined = await http.post(
            "/api/v1/sessions/join", json={"join_code": code}, headers=bearer(tok)
        )
        joined.raise_for_status()

    await gather_bounded(20, [join(t) for t in tokens])
    ids = []
    first = uuid.uuid4().int % 10**9
    for n in range(songs + 1 if songs else 0):
        added = await http.post("/api/v1/songs/add", json=track(first + n), headers=bearer(host))
        added.raise_for_status()
        ids.append(added.json()["id"])
    return Party(created.json()["session"]["id"], host, tokens, ids[1:])


async def open_clients(
    server: Server, session_id: str, tokens: list[str]
) -> list[ws_client.RawClient]:
    """One WebSocket per token, each past its first frame (the snapshot)."""
    path = f"/api/v1/sessions/{session_id}/realtime"

    async def one(tok: str) -> ws_client.RawClient:
        client, _snapshot = await ws_client.connect(server.port, path, headers=bearer(tok))
        return client

    return list(await gather_bounded(50, [one(t) for t in tokens]))


Key = tuple[str, int]  # (queued song id, total votes): one event


async def fanout_phase(
    senders: Sequence[Server],
    receivers: Sequence[Server],
    *,
    parties: int,
    members: int,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    """`parties` parties of `members` clients; each party's clients connect round-robin to
    `receivers`; members vote through `senders` (round-robin) at `rate` votes/s in total.
    Server CPU per delivered frame counts every process of `senders` and `receivers`, vote
    handling included."""
    votes = max(1, int(rate * seconds))
    per_party = -(-votes // parties)
    async with httpx.AsyncClient(base_url=senders[0].base_url, timeout=60) as http:
        made = [
            await make_party(http, members, songs=-(-per_party // members) + 1)
            for _ in range(parties)
        ]
    sockets: list[tuple[ws_client.RawClient, int]] = []  # (socket, receiver index)
    for party in made:
        for n, receiver in enumerate(receivers):
            chunk = party.members[n :: len(receivers)]
            sockets.extend((ws, n) for ws in await open_clients(receiver, party.session_id, chunk))
    arrivals: list[dict[Key, float]] = [{} for _ in sockets]
    from_commit: list[list[float]] = [[] for _ in receivers]

    def listener(receiver: int, seen: dict[Key, float]) -> ws_client.OnFrame:
        received = from_commit[receiver]

        def on_frame(raw: bytes) -> None:
            now, wall = time.perf_counter(), time.time()
            message = orjson.loads(raw)
            if message["event"] == "votes.updated":
                data = message["data"]
                seen[(data["queued_song_id"], data["total_votes"])] = now
                committed = datetime.fromisoformat(message["ts"]).timestamp()
                received.append((wall - committed) * 1000)

        return on_frame

    for (ws, n), seen in zip(sockets, arrivals, strict=True):
        ws.listen(listener(n, seen))
    plan = []
    for k in range(votes):
        party, turn = made[k % parties], k // parties
        plan.append((party.songs[turn // members], party.members[turn % members]))
    statuses: dict[int, int] = {}
    sent: dict[Key, float] = {}
    answered: dict[Key, float] = {}
    clients = [httpx.AsyncClient(base_url=s.base_url, timeout=30) for s in senders]
    processes = {s.port: s for s in [*senders, *receivers]}.values()

    async def vote(k: int) -> None:
        song, tok = plan[k]
        began = time.perf_counter()
        response = await clients[k % len(clients)].post(
            f"/api/v1/songs/{song}/vote", json={"vote_value": 1}, headers=bearer(tok)
        )
        done = time.perf_counter()
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 200:
            key = (song, response.json()["total_votes"])
            sent[key], answered[key] = began, done

    cpu_before = sum(s.cpu_seconds() for s in processes)
    loadgen_before = time.process_time()
    started = time.perf_counter()
    pending = []
    for k in range(votes):
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(vote(k)))
    sending = time.perf_counter() - started
    await asyncio.gather(*pending)
    expected = statuses.get(200, 0) * members
    settle = time.perf_counter() + 10  # let the last events land (bounded)
    while sum(map(len, from_commit)) < expected and time.perf_counter() < settle:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # and anything beyond what was expected (duplicates)
    cpu = sum(s.cpu_seconds() for s in processes) - cpu_before
    # The load generator's own share of its core over the phase: near 1.0, it was the bottleneck.
    loadgen_busy = (time.process_time() - loadgen_before) / (time.perf_counter() - started)
    for ws, _ in sockets:
        ws.close()
    for client in clients:
        await client.aclose()
    return _summary(
        votes=votes,
        sending=sending,
        cpu=cpu,
        statuses=statuses,
        arrivals=arrivals,
        from_commit=from_commit,
        sent=sent,
        answered=answered,
        header={
            "loadgen_cpu_share": round(loadgen_busy, 2),
            "parties": parties,
            "clients_per_party": members,
            "clients": len(sockets),
            "processes": len(processes),
        },
    )


def _summary(
    *,
    votes: int,
    sending: float,
    cpu: float,
    statuses: dict[int, int],
    arrivals: list[dict[Key, float]],
    from_commit: list[list[float]],
    sent: dict[Key, float],
    answered: dict[Key, float],
    header: dict[str, Any],
) -> dict[str, Any]:
    from_response = [
        (seen[k] - answered[k]) * 1000 for seen in arrivals for k in answered if k in seen
    ]
    from_send = [(seen[k] - sent[k]) * 1000 for seen in arrivals for k in sent if k in seen]
    delivered = sum(len(per) for per in from_commit)
    members = header["clients_per_party"]
    every = [d for per in from_commit for d in per]
    return {
        **header,
        "votes": votes,
        "achieved_rate": round((votes - 1) / sending, 1) if votes > 1 and sending else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "delivered": delivered,
        "expected": statuses.get(200, 0) * members,
        **latency_summary(every),  # commit (`ts`) to receipt: the figure the targets use
        "per_receiver": [latency_summary(per) for per in from_commit],
        "p50_ms_from_response": round(percentile(from_response, 0.5), 2),
        "p99_ms_from_response": round(percentile(from_response, 0.99), 2),
        "p50_ms_from_send": round(percentile(from_send, 0.5), 2),
        "p99_ms_from_send": round(percentile(from_send, 0.99), 2),
        "delivered_before_response": sum(1 for x in from_response if x < 0),
        "server_cpu_us_per_frame": round(cpu / max(1, delivered) * 1e6, 1),
        "server_cpu_ms_per_vote": round(cpu / max(1, statuses.get(200, 0)) * 1000, 3),
    }


async def memory_phase(server: Server, idle: int) -> dict[str, Any]:
    """RSS of the server before and after `idle` members connect and stay idle."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        party = await make_party(http, idle + 20)
    warm = await open_clients(server, party.session_id, party.members[:20])  # lazy code paths
    for ws in warm:
        ws.close()
    await asyncio.sleep(2)
    before = server.rss_kib()
    sockets = await open_clients(server, party.session_id, party.members[20:])
    await asyncio.sleep(3)
    after = server.rss_kib()
    for ws in sockets:
        ws.close()
    return {
        "idle_connections": len(sockets),
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_connection": round((after - before) / len(sockets), 1),
    }
