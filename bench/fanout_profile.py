"""Where the server's CPU per delivered realtime frame goes, without the database or HTTP:
the real hub and connections (`queueit.realtime`) behind a real uvicorn (uvloop, the `ws`
implementation asked for) in this process, one party of N sockets held by a load generator
in a child process (`bench/ws_client.py`, pinned to another core when there are two), and E
`votes.updated` events handed to the hub at a fixed rate. Reports this process's CPU time per
delivered frame; `--profile` adds a cProfile of the delivery phase.

    python -m bench.fanout_profile [--clients 1000] [--events 100] [--rate 20]
        [--ws websockets-sansio|websockets|wsproto] [--profile]"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import time
import uuid
from typing import Any, cast

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench import ws_client
from bench.harness import free_port
from queueit.core.events import DomainEvent, EventName
from queueit.core.security import Claims
from queueit.core.settings import Settings
from queueit.realtime.hub import Hub
from queueit.realtime.protocol import SNAPSHOT, Outgoing, encode, now_iso

PARTY = uuid.uuid4()


def _app(hub: Hub) -> Starlette:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        now = int(time.time())
        claims = Claims(sub=uuid.uuid4(), is_anonymous=True, issued_at=now, expires_at=now + 3600)
        conn = hub.register(websocket, party_id=PARTY, claims=claims)
        frame = encode(SNAPSHOT, PARTY, 0, now_iso(), {})
        conn.resume_with(Outgoing(0, frame, SNAPSHOT, control=True, snapshot=True))

        async def read() -> None:
            try:
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass
            conn.peer_closed()

        reading = asyncio.create_task(read())
        try:
            await conn.run_sender()
        finally:
            reading.cancel()
            hub.unregister(conn)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


def _event(version: int) -> DomainEvent:
    data: dict[str, Any] = {
        "queued_song_id": str(uuid.uuid4()),
        "total_votes": version,
        "upvotes": version,
        "downvotes": 0,
        "queue": [{"queued_song_id": str(uuid.uuid4()), "total_votes": n} for n in range(3)],
    }
    return DomainEvent(PARTY, EventName.VOTES_UPDATED, version, data)


async def _serve(args: argparse.Namespace) -> None:
    settings = Settings(realtime_buffer_size=max(256, args.events + 8))
    hub = Hub(settings, source=cast(Any, None), verifier=cast(Any, None))
    port = free_port()
    config = uvicorn.Config(
        _app(hub), port=port, ws=args.ws, loop="uvloop", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    command = [sys.executable, "-m", "bench.fanout_profile", "--client", str(port)]
    command += ["--clients", str(args.clients), "--events", str(args.events)]
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        command = ["taskset", "-c", str(max(os.sched_getaffinity(1))), *command]
    child = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert (await child.stdout.readline()).strip() == b"ready"
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    cpu, began = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for version in range(1, args.events + 1):
        hub.on_event(_event(version), now_iso())
        await asyncio.sleep(1 / args.rate)
    assert (await child.stdout.readline()).strip() == b"done"
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - cpu
    frames = args.clients * args.events
    print(
        f"ws={args.ws} clients={args.clients} events={args.events} rate={args.rate}/s: "
        f"{cpu / frames * 1e6:.1f} us CPU/frame ({cpu:.2f} s CPU in "
        f"{time.perf_counter() - began:.1f} s)"
    )
    await child.wait()
    server.should_exit = True
    await serving
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


async def _clients(port: int, clients: int, events: int) -> None:
    remaining = clients
    done = asyncio.get_running_loop().create_future()

    def counter() -> ws_client.OnFrame:
        left = events

        def on_frame(_payload: bytes) -> None:
            nonlocal left, remaining
            left -= 1
            if left == 0:
                remaining -= 1
                if remaining == 0:
                    done.set_result(None)

        return on_frame

    sockets = []
    for _ in range(clients):
        client, _first = await ws_client.connect(port, "/ws", headers={})
        client.listen(counter())
        sockets.append(client)
    print("ready", flush=True)
    await done
    print("done", flush=True)
    for client in sockets:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--ws", default="websockets-sansio")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is not None:
        asyncio.run(_clients(args.client, args.clients, args.events))
    else:
        import uvloop

        uvloop.run(_serve(args))


if __name__ == "__main__":
    main()
