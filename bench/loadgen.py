"""Load generators: wrk (Debian's package) when it is installed, and a small HTTP/1.1
keep-alive client in Python for scenarios that must know the outcome of every request (and as
a clearly labelled fallback when wrk is missing; it shares the machine's CPUs with the server,
so its figures are lower bounds)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.stats import latency_summary

T = TypeVar("T")

WRK_INSTALL_HINT = "wrk is not installed: `apt-get install -y wrk` (Debian) to use it"

# -- wrk -----------------------------------------------------------------------------------

_WRK_SCRIPT = """
local tokens = {%(tokens)s}
local i = 0
request = function()
  i = i + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. tokens[(i %% #tokens) + 1]
  return wrk.format("GET", "%(path)s", headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '@@WRK{"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d,"mean_us":%%f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    base_url: str,
    path: str,
    *,
    tokens: list[str],
    duration: float,
    connections: int,
    threads: int = 1,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """GET `path` as fast as `connections` keep-alive connections allow, for `duration` s."""
    binary = wrk_path()
    if binary is None:
        raise RuntimeError(WRK_INSTALL_HINT)
    script = _WRK_SCRIPT % {
        "tokens": ", ".join(json.dumps(t) for t in tokens or [""]),
        "path": path,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
        script_path = file.name
    try:
        completed = subprocess.run(
            [
                binary,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                f"--timeout={max(1, round(timeout))}s",
                "-s",
                script_path,
                base_url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=False,
        )
    finally:
        Path(script_path).unlink(missing_ok=True)
    for line in completed.stdout.splitlines():
        if line.startswith("@@WRK"):
            raw = json.loads(line[5:])
            seconds = raw["duration_us"] / 1e6
            errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
            return {
                "generator": "wrk",
                "requests": raw["requests"],
                "seconds": round(seconds, 2),
                "rps": round(raw["requests"] / seconds, 1),
                "errors": errors,
                "non_2xx": raw["status"],
                # wrk's own percentiles (its histogram's rounding, not bench.stats'): kept
                # for the JSON only; no figure in the table is a wrk percentile.
                "wrk_p50_ms": round(raw["p50_us"] / 1000, 2),
                "wrk_p90_ms": round(raw["p90_us"] / 1000, 2),
                "wrk_p99_ms": round(raw["p99_us"] / 1000, 2),
                "max_ms": round(raw["max_us"] / 1000, 2),
                "connections": connections,
                "threads": threads,
            }
    raise RuntimeError(f"wrk gave no result:\n{completed.stdout}\n{completed.stderr}")


# -- the Python client ----------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    tag: Any = None


@dataclass
class Outcome:
    tag: Any
    status: int  # 0: no response (connection error)
    body: bytes
    started: float
    latency_ms: float


@dataclass
class LoadResult:
    generator: str
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


KEEP_ALIVE_REUSE_SECONDS = 4.0


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; requests go one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.idle_since = time.perf_counter()  # when its last answer arrived

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
            self.writer = self.reader = None

    async def send(self, request: Request, timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            await asyncio.wait_for(self.open(), timeout)
        assert self.reader is not None and self.writer is not None
        head = [f"{request.method} {request.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            head += ["Content-Type: application/json", f"Content-Length: {len(request.body)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + request.body)
        return await asyncio.wait_for(self._response(), timeout)

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
            elif name == "transfer-encoding":
                raise RuntimeError("chunked responses are not expected from this API")
        body = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, body


async def closed_loop(
    base_url: str,
    *,
    connections: int,
    next_request: Callable[[int], Request | None],
    on_outcome: Callable[[Outcome], None] | None = None,
    duration: float | None = None,
    timeout: float = 10.0,
    generator: str = "python",
) -> LoadResult:
    """`connections` workers, each sending its next request as soon as the last one answered,
    until `duration` passes or `next_request(worker)` returns None. Latency is measured from
    writing the request to reading the whole response."""
    host, port = base_url.split("://", 1)[1].split(":")
    result = LoadResult(generator=generator)
    deadline = time.perf_counter() + duration if duration else float("inf")

    async def worker(index: int) -> None:
        conn = HttpConnection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                request = next_request(index)
                if request is None:
                    return
                started = time.perf_counter()
                try:
                    status, body = await conn.send(request, timeout)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                    status, body = 0, b""
                    await conn.close()
                    result.errors += 1
                latency = (time.perf_counter() - started) * 1000
                result.requests += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.latencies_ms.append(latency)
                if on_outcome is not None:
                    on_outcome(Outcome(request.tag, status, body, started, latency))
        finally:
            await conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    result.seconds = time.perf_counter() - began
    return result


async def open_loop(
    base_url: str,
    *,
    rate: float,
    duration: float,
    next_request: Callable[[int], Request],
    on_outcome: Callable[[Outcome], None] | None = None,
    timeout: float = 10.0,
) -> LoadResult:
    """Request k leaves at start + k/rate whether or not earlier ones were answered (an open
    loop: the offered load does not fall when the server slows down). Latency runs from the
    scheduled time, so a wait for a free connection counts too (no coordinated omission).
    Idle keep-alive connections are reused; a new one opens when none is idle."""
    host, port = base_url.split("://", 1)[1].split(":")
    result = LoadResult(generator=f"python (open loop, {rate:.0f} req/s)")
    idle: list[HttpConnection] = []

    async def reusable() -> HttpConnection:
        # The server closes a keep-alive connection idle for 5 s (uvicorn's default); one
        # idle for nearly that long may be closing as the request goes out, which would count
        # as a failed vote that the server never saw.
        while idle:
            conn = idle.pop()
            if time.perf_counter() - conn.idle_since < KEEP_ALIVE_REUSE_SECONDS:
                return conn
            await conn.close()
        return HttpConnection(host, int(port))

    async def one(k: int, scheduled: float) -> None:
        request = next_request(k)
        conn = await reusable()
        try:
            status, body = await conn.send(request, timeout)
            conn.idle_since = time.perf_counter()
            idle.append(conn)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            status, body = 0, b""
            await conn.close()
            result.errors += 1
        latency = (time.perf_counter() - scheduled) * 1000
        result.requests += 1
        result.statuses[status] = result.statuses.get(status, 0) + 1
        result.latencies_ms.append(latency)
        if on_outcome is not None:
            on_outcome(Outcome(request.tag, status, body, scheduled, latency))

    began = time.perf_counter()
    pending = []
    for k in range(max(1, int(rate * duration))):
        scheduled = began + k / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one(k, scheduled)))
    await asyncio.gather(*pending)
    result.seconds = time.perf_counter() - began
    for conn in idle:
        await conn.close()
    return result


def summary(result: LoadResult) -> dict[str, Any]:
    return {
        "generator": result.generator,
        "requests": result.requests,
        "seconds": round(result.seconds, 2),
        "rps": round(result.rps, 1),
        "errors": result.errors,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        **latency_summary(result.latencies_ms),
    }


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is installed (the server's event loop too)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
