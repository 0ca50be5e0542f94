"""One client socket: a bounded buffer of outgoing frames and the loop that sends them.

The hub only ever appends to the buffer (never awaits a socket), so a stalled client delays
no one; when the buffer is full the client is closed with 1013. The socket's own ASGI task
runs `run_sender`, the only code that writes to the socket."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from queueit.core import metrics
from queueit.core.security import Claims
from queueit.realtime.protocol import CloseCode, Outgoing

log = structlog.get_logger(__name__)


class Connection:
    __slots__ = (
        "_accept_min",
        "_deadline",
        "_items",
        "_paused",
        "_wakeup",
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

    @property
    def ready(self) -> bool:
        return self.snapshot_version is not None and self.close_code is None

    @property
    def buffered(self) -> int:
        return len(self._items)

    def offer(self, item: Outgoing) -> None:
        """Queue a frame without blocking. A full buffer drops the client with 1013."""
        if self.close_code is not None:
            return
        if len(self._items) >= self.max_buffer:
            log.info(
                "realtime_client_too_slow",
                session_id=str(self.party_id),
                user_id=str(self.user_id),
                buffered=len(self._items),
            )
            metrics.WS_MESSAGES_DROPPED.labels(reason="client_too_slow").inc()
            self.close(CloseCode.TRY_AGAIN_LATER, "client too slow")
            return
        self._items.append(item)
        if item.version > self.seen_version:
            self.seen_version = item.version
        if not item.control:
            self.note_version(item.version)
        if item.close_code is not None:
            self.close(item.close_code, item.close_reason, flush=True)
        self._wakeup.set()

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

    async def _pump(self) -> None:
        items = self._items
        while not self.peer_gone:
            if items and not self._paused:
                item = items.popleft()
                if not item.control and item.version < self._accept_min:
                    continue  # already covered by a snapshot, or older than what was sent
                await self.websocket.send_text(item.frame)
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
