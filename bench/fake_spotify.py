"""A tiny stand-in for Spotify's token and search endpoints on 127.0.0.1, for the catalog
benchmark (SPOTIFY_ACCOUNTS_URL=http://127.0.0.1:PORT, SPOTIFY_API_URL=http://127.0.0.1:PORT/v1).
asyncio only, keep-alive, answers in well under a millisecond (plus `--delay-ms`), so what the
benchmark measures is the server's own path. Prints the port on its first line, then serves
until killed or `--lifetime` seconds pass.

    python -m bench.fake_spotify --delay-ms 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlsplit

TOKEN = json.dumps({"access_token": "fake-token", "token_type": "Bearer", "expires_in": 3600})


def search_body(query: str, limit: int) -> bytes:
    items = []
    for n in range(limit):
        items.append(
            {
                "id": f"fk{abs(hash((query, n))) % 10**12:012d}",
                "type": "track",
                "name": f"{query.title()} {n}",
                "artists": [{"id": "a1", "name": "Fake Artist"}, {"id": "a2", "name": "Guest"}],
                "album": {
                    "name": f"{query.title()} (Deluxe)",
                    "album_type": "album",
                    "images": [
                        {"url": "https://i.scdn.co/image/large", "width": 640, "height": 640},
                        {"url": "https://i.scdn.co/image/small", "width": 64, "height": 64},
                    ],
                },
                "duration_ms": 180_000 + n * 1000,
                "explicit": n % 5 == 0,
                "external_ids": {"isrc": f"USFAK{n:07d}"},
                "popularity": 50,
            }
        )
    body = {"tracks": {"items": items, "total": limit, "limit": limit, "offset": 0}}
    return json.dumps(body).encode()


class Stats:
    searches = 0
    tokens = 0


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            parts = urlsplit(target)
            if method == "POST" and parts.path == "/api/token":
                Stats.tokens += 1
                status, payload = 200, TOKEN.encode()
            elif method == "GET" and parts.path == "/v1/search":
                Stats.searches += 1
                query = parse_qs(parts.query)
                q = query.get("q", [""])[0]
                limit = int(query.get("limit", ["10"])[0])
                status, payload = 200, search_body(q, limit)
            elif parts.path == "/stats":
                status = 200
                payload = json.dumps({"searches": Stats.searches, "tokens": Stats.tokens}).encode()
            else:
                status, payload = 404, b'{"error": "no such fake route"}'
            if delay:
                await asyncio.sleep(delay)
            writer.write(
                f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port: int, delay: float, lifetime: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, delay), "127.0.0.1", port, backlog=1024
    )
    sys.stdout.write(f"{server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    async with server:
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop after this long")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.delay_ms / 1000, args.lifetime))
