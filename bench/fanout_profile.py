"""Where the server's CPU per delivered realtime frame goes, without the database or HTTP:
the real hub and connections (`queueit.realtime`) behind a real uvicorn (uvloop, the `ws`
implementation asked for) in this process, one party of N sockets held by a load generator
in a child process (`bench/ws_client.py`, pinned to another core when there are two), and E
`votes.updated` events handed to the hub at a fixed rate. Reports this process's CPU time per
delivered frame, and the load generator's (`--client websockets`: the `websockets` client, a
reader task per socket, as the fan-out bench used before); `--profile` adds a cProfile of the
delivery phase.

    python -m bench.fanout_profile [--clients 1000] [--events 100] [--rate 20]
        [--ws framed|websockets-sansio|websockets|wsproto] [--client raw|websockets] [--profile]

`--ws framed` (the default) is what `queueit serve` runs: uvicorn's sans-I/O websockets with
the frame writer (core/ws_frames.py), an event's frame serialised once for every socket;
`websockets-sansio` is the same protocol without it (every frame through the ASGI send).
`--floor` measures only what a bare `send()` per frame costs this process (the kernel's
share, loopback delivery included), with no server at all."""

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
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench import ws_client
from bench.harness import free_port
from queueit.core.events import DomainEvent, EventName
from queueit.core.security import Claims
from queueit.core.settings import Settings
from queueit.core.ws_frames import WS_PROTOCOL_PATH, text_frame
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
        _app(hub),
        port=port,
        ws=WS_PROTOCOL_PATH if args.ws == "framed" else args.ws,
        loop="uvloop",
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    command = [sys.executable, "-m", "bench.fanout_profile", "--serve-port", str(port)]
    command += ["--clients", str(args.clients), "--events", str(args.events)]
    command += ["--client", args.client]
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
    done, client_cpu = (await child.stdout.readline()).split()
    assert done == b"done"
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - cpu
    frames = args.clients * args.events
    print(
        f"ws={args.ws} clients={args.clients} events={args.events} rate={args.rate}/s: "
        f"{cpu / frames * 1e6:.1f} us CPU/frame ({cpu:.2f} s CPU in "
        f"{time.perf_counter() - began:.1f} s); load generator ({args.client}): "
        f"{float(client_cpu) / frames * 1e6:.1f} us CPU/frame"
    )
    await child.wait()
    server.should_exit = True
    await serving
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


async def _clients(port: int, clients: int, events: int, kind: str) -> None:
    remaining = clients
    done = asyncio.get_running_loop().create_future()

    def counter() -> ws_client.OnFrame:
        left = events

        def on_frame(payload: bytes) -> None:
            nonlocal left, remaining
            orjson.loads(payload)  # what a real member does with it
            left -= 1
            if left == 0:
                remaining -= 1
                if remaining == 0:
                    done.set_result(None)

        return on_frame

    closers: list[Callable[[], Awaitable[None] | None]] = []
    if kind == "raw":
        for _ in range(clients):
            client, _first = await ws_client.connect(port, "/ws", headers={})
            client.listen(counter())
            closers.append(client.close)
    else:
        from websockets.asyncio.client import ClientConnection, connect

        async def read(ws: ClientConnection, on_frame: ws_client.OnFrame) -> None:
            async for message in ws:
                on_frame(message if isinstance(message, bytes) else message.encode())

        readers = []
        for _ in range(clients):
            ws = await connect(f"ws://127.0.0.1:{port}/ws", open_timeout=60)
            await ws.recv()
            readers.append(asyncio.create_task(read(ws, counter())))
            closers.append(ws.close)
    print("ready", flush=True)
    cpu = time.process_time()
    await done
    print("done", time.process_time() - cpu, flush=True)
    for close in closers:
        closing = close()
        if closing is not None:
            await closing


def _floor(clients: int, events: int) -> str:
    """What the kernel alone costs per frame: a bare `send()` of one event-sized frame to
    each of `clients` loopback TCP sockets, `events` times, from this process (on loopback
    the receiving side's delivery is charged to the sender too), with TCP_NODELAY as the
    server's transports have it, so each frame is sent at once; nobody reads meanwhile."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0), backlog=clients)
    pairs = []
    for _ in range(clients):
        client = socket.create_connection(listener.getsockname())
        served = listener.accept()[0]
        served.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvloop's transports
        pairs.append((client, served))
    frame = text_frame('{"event":"votes.updated","data":{}}'.ljust(150))
    started = time.process_time()
    for _ in range(events):
        for _client, served in pairs:
            served.send(frame)
    cpu = time.process_time() - started
    for client, served in pairs:
        client.close()
        served.close()
    listener.close()
    return (
        f"floor: {clients} sockets x {events} frames of {len(frame)} bytes: "
        f"{cpu / (clients * events) * 1e6:.1f} us CPU/frame for send() alone"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--ws", default="framed")
    parser.add_argument("--client", choices=["raw", "websockets"], default="raw")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--floor", action="store_true", help="only the kernel's floor: a bare send() per frame"
    )
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.floor:
        print(_floor(args.clients, args.events))
    elif args.serve_port is not None:
        asyncio.run(_clients(args.serve_port, args.clients, args.events, args.client))
    else:
        import uvloop

        uvloop.run(_serve(args))


if __name__ == "__main__":
    main()
