"""One client socket: a bounded buffer of outgoing frames and the loop that sends them.

The hub never awaits a socket, so a stalled client delays no one; when the buffer is full the
client is closed with 1013. An event for a socket with nothing queued is written at once, in
the hub's call (`offer`): the ASGI `send` of a writable WebSocket finishes without suspending,
so the frame costs no task switch; with the server's frame writer (core/ws_frames.py) it is
the event's bytes, serialised once for every socket, written straight to the transport. Should
it suspend (the transport's buffer is full) the socket's own task, `run_sender`, takes over
that send and everything queued behind it, in order; it also sends snapshots and control
frames and closes the socket."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, cast

import structlog
from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from queueit.core import metrics
from queueit.core.security import Claims
from queueit.core.ws_frames import EXTENSION
from queueit.realtime.protocol import CloseCode, Outgoing

log = structlog.get_logger(__name__)


class Connection:
    __slots__ = (
        "_accept_min",
        "_deadline",
        "_items",
        "_paused",
        "_send",
        "_suspended",
        "_wakeup",
        "_write_frame",
        "_writing",
        "claims",
        "close_code",
        "close_reason",
        "close_timeout",
        "contiguous_version",
        "expiry",
        "left_version",
        "max_buffer",
        "opened_at",
        "party_id",
        "peer_gone",
        "resync_again",
        "resyncing",
        "seen_version",
        "snapshot_version",
        "user_id",
        "viewer",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        *,
        party_id: uuid.UUID,
        claims: Claims,
        max_buffer: int,
        close_timeout: float,
        viewer: bool = False,
    ) -> None:
        self.websocket = websocket
        self.party_id = party_id
        self.claims = claims
        # A read-only viewer (a TV link): its claims' `sub` is the party id; no presence.
        self.viewer = viewer
        self.user_id = claims.sub
        self.max_buffer = max_buffer
        self.close_timeout = close_timeout
        self.opened_at = time.monotonic()
        # Version of the last snapshot put in front of the buffer (None before the first).
        self.snapshot_version: int | None = None
        # Highest version queued for this client (what a `pong` reports).
        self.seen_version = 0
        # Highest version up to which this client was given every change, with no version
        # skipped: after a backplane gap, a session whose version is higher has a change
        # this client never got, even when later changes did reach it (hub._repair_gap).
        self.contiguous_version = 0
        self.left_version: int | None = None  # member.left seen before the first snapshot
        self.close_code: int | None = None
        self.close_reason = ""
        self.peer_gone = False
        self.resyncing = False
        self.resync_again = False
        self.expiry: asyncio.TimerHandle | None = None
        self._items: deque[Outgoing] = deque()
        self._wakeup = asyncio.Event()
        self._paused = True  # nothing is sent before the first snapshot
        self._accept_min = 0  # event frames below this version are stale for this client
        self._deadline: asyncio.Timeout | None = None
        # The ASGI `send` under Starlette's WebSocket wrapper (state checks we do not need
        # per frame: this class alone writes, and closes through `websocket.close`).
        self._send: Send = websocket._send
        # The server's frame writer (core/ws_frames.py), when it has one: an event frame's
        # bytes straight to the transport when they can go at once; else None, or False from
        # it, and the frame takes the ASGI send.
        extensions = websocket.scope.get("extensions") or {}  # ASGI: may be absent or None
        self._write_frame: Callable[[bytes], bool] | None = extensions.get(EXTENSION)
        # A direct send that suspended: (its coroutine, what it awaits); `run_sender` ends it.
        self._suspended: tuple[Coroutine[Any, Any, None], Any] | None = None
        self._writing = False  # the sender task is in a send

    @property
    def ready(self) -> bool:
        return self.snapshot_version is not None and self.close_code is None

    @property
    def buffered(self) -> int:
        return len(self._items)

    def offer(self, item: Outgoing) -> bool:
        """Send or queue a frame without blocking; True when it was written at once (the
        caller counts those in `queueit_ws_messages_sent_total`, once per event). A full
        buffer drops the client with 1013."""
        if self.close_code is not None:
            return False
        if len(self._items) >= self.max_buffer:
            log.info(
                "realtime_client_too_slow",
                session_id=str(self.party_id),
                user_id=str(self.user_id),
                buffered=len(self._items),
            )
            metrics.WS_MESSAGES_DROPPED.labels(reason="client_too_slow").inc()
            self.close(CloseCode.TRY_AGAIN_LATER, "client too slow")
            return False
        if item.version > self.seen_version:
            self.seen_version = item.version
        if not item.control:
            self.note_version(item.version)
        if (
            self._items
            or self._paused
            or self._writing
            or self._suspended is not None
            or item.control
            or item.close_code is not None
        ):
            self._items.append(item)
            if item.close_code is not None:
                self.close(item.close_code, item.close_reason, flush=True)
            self._wakeup.set()
            return False
        if item.version < self._accept_min:
            return False  # already covered by a snapshot, or older than what was sent
        return self._send_now(item)

    def _send_now(self, item: Outgoing) -> bool:
        """Write an event frame from the caller, without a task switch (see the module)."""
        if item.wire and self._write_frame is not None and self._write_frame(item.wire):
            self._accept_min = item.version
            return True
        sending = cast(Coroutine[Any, Any, None], self._send(item.message))
        try:
            awaited = sending.send(None)
        except StopIteration:
            pass
        except (WebSocketDisconnect, OSError, RuntimeError):
            self.peer_closed()
            return False
        else:
            self._suspended = (sending, awaited)  # nothing may overtake it: see _pump
            self._wakeup.set()
        self._accept_min = item.version
        return True

    def note_version(self, version: int) -> None:
        """A change of `version` reached this client (an event, or an internal one)."""
        if version == self.contiguous_version + 1:
            self.contiguous_version = version

    def pause(self) -> None:
        """Hold sending while a snapshot is taken (events keep queueing, bounded)."""
        self._paused = True

    def resume_with(self, snapshot: Outgoing) -> None:
        """Send `snapshot` before everything queued; events it already covers are dropped.
        A snapshot older than one already given (a gap repair racing the first snapshot) is
        dropped: the client must never go back."""
        if self.snapshot_version is not None and snapshot.version < self.snapshot_version:
            self._paused = False
            self._wakeup.set()
            return
        self.snapshot_version = snapshot.version
        if self.left_version is not None and self.left_version > snapshot.version:
            self.close(CloseCode.NOT_MEMBER, "left the session")
            return
        if self.close_code is not None:
            return
        self._items.appendleft(snapshot)
        self.seen_version = max(self.seen_version, snapshot.version)
        self.contiguous_version = max(self.contiguous_version, snapshot.version)
        for item in self._items:  # changes queued behind the snapshot follow on from it
            if not item.control:
                self.note_version(item.version)
        self._paused = False
        self._wakeup.set()

    def close(self, code: int, reason: str, *, flush: bool = False) -> None:
        """Close the socket with `code`: at once (dropping what is queued) or, with `flush`,
        after the queued frames. Either way within `close_timeout` seconds."""
        if self.close_code is not None:
            return
        self.close_code, self.close_reason = code, reason
        if not flush:
            self._items.clear()
        self._paused = False
        if self.expiry is not None:
            self.expiry.cancel()
        if self._deadline is not None:
            self._deadline.reschedule(asyncio.get_running_loop().time() + self.close_timeout)
        self._wakeup.set()

    def peer_closed(self) -> None:
        self.peer_gone = True
        self.close(1000, "closed by client")

    async def run_sender(self) -> None:
        """Send queued frames in order until the socket must close, then close it."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as deadline:
                self._deadline = deadline
                if self.close_code is not None:
                    deadline.reschedule(loop.time() + self.close_timeout)
                await self._pump()
                if not self.peer_gone:
                    code = self.close_code or CloseCode.INTERNAL
                    await self.websocket.close(code, self.close_reason)
        except TimeoutError:
            # The client stopped reading: give up on it (the server's transport closes it).
            log.info(
                "realtime_close_timed_out",
                session_id=str(self.party_id),
                code=self.close_code,
            )
        except (WebSocketDisconnect, OSError, RuntimeError):
            self.peer_gone = True
        finally:
            self._deadline = None

    async def _finish_suspended(self) -> None:
        """Drive a direct send that suspended to its end, as a task would have: wait for the
        future it yielded, then resume it (asyncio's Task.__step, in small)."""
        assert self._suspended is not None
        sending, awaited = self._suspended
        try:
            while True:
                if awaited is None:  # a bare yield: let the loop run once
                    await asyncio.sleep(0)
                else:
                    awaited._asyncio_future_blocking = False  # taken over, as Task.__step does
                    await asyncio.wait((awaited,))
                try:
                    awaited = sending.send(None)  # the future's outcome is raised in there
                except StopIteration:
                    return
        finally:
            self._suspended = None
            sending.close()

    async def _pump(self) -> None:
        items = self._items
        while not self.peer_gone:
            if self._suspended is not None:
                await self._finish_suspended()
                continue
            if items and not self._paused:
                item = items.popleft()
                if not item.control and item.version < self._accept_min:
                    continue  # already covered by a snapshot, or older than what was sent
                self._writing = True
                try:
                    await self._send(item.message)
                finally:
                    self._writing = False
                metrics.count_sent(item.event)
                if item.snapshot:
                    self._accept_min = item.version + 1
                elif not item.control:
                    self._accept_min = item.version
                if item.close_code is not None:
                    return
                continue
            if self.close_code is not None:
                return
            self._wakeup.clear()
            await self._wakeup.wait()
