"""The per-process hub: one backplane listener fanning events out to the sockets of each
party, presence for connected users, and repair after backplane gaps. It knows parties only
by id and events only by name; snapshots, versions and presence come from its ViewSource."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import structlog
from starlette.websockets import WebSocket

from queueit.core import metrics
from queueit.core.events import DomainEvent, EventName
from queueit.core.security import Claims, TokenVerifier
from queueit.core.settings import Settings
from queueit.realtime.connection import Connection
from queueit.realtime.protocol import SNAPSHOT, CloseCode, Outgoing, encode, now_iso
from queueit.realtime.source import Refused, ViewerTokens, ViewSource

log = structlog.get_logger(__name__)

# Snapshots taken at once when many sockets must resync (after a backplane gap).
RESYNC_CONCURRENCY = 4


class Hub:
    def __init__(
        self,
        settings: Settings,
        source: ViewSource,
        verifier: TokenVerifier,
        viewers: ViewerTokens | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.verifier = verifier  # a fresh `auth` message is verified like the first token
        self.viewers = viewers  # read-only viewer tokens (TV links), when the app has them
        self._parties: dict[uuid.UUID, set[Connection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._resync_limit = asyncio.Semaphore(RESYNC_CONCURRENCY)
        self._presence_task: asyncio.Task[None] | None = None
        self._all_closed = asyncio.Event()
        self._all_closed.set()
        self._gap_pending = False
        self.closing = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._presence_task = asyncio.create_task(self._presence_loop(), name="realtime-presence")

    async def stop(self) -> None:
        """Close every socket with 1001 and wait (bounded) for them to go."""
        await self.close_all()
        for task in [self._presence_task, *self._tasks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._presence_task, *self._tasks] if t is not None),
            return_exceptions=True,
        )
        self._presence_task = None

    async def close_all(self) -> None:
        self.closing = True
        connections = self.connections()
        for conn in connections:
            conn.close(CloseCode.GOING_AWAY, "server shutting down")
        if connections:
            log.info("realtime_closing_all", connections=len(connections))
            with contextlib.suppress(TimeoutError):
                # Each sender gives up after its own close timeout; this is a backstop.
                timeout = self.settings.realtime_close_timeout_seconds + 1
                await asyncio.wait_for(self._all_closed.wait(), timeout=timeout)

    # -- registry ----------------------------------------------------------------------------

    def connections(self) -> list[Connection]:
        return [conn for conns in self._parties.values() for conn in conns]

    def register(
        self,
        websocket: WebSocket,
        *,
        party_id: uuid.UUID,
        claims: Claims,
        viewer: bool = False,
    ) -> Connection:
        """Start buffering the party's events for a new socket (sent after its snapshot)."""
        conn = Connection(
            websocket,
            party_id=party_id,
            claims=claims,
            max_buffer=self.settings.realtime_buffer_size,
            close_timeout=self.settings.realtime_close_timeout_seconds,
            viewer=viewer,
        )
        self.set_expiry(conn, claims.expires_at)
        self._parties.setdefault(party_id, set()).add(conn)
        self._all_closed.clear()
        metrics.WS_CONNECTIONS.inc()
        return conn

    def unregister(self, conn: Connection) -> None:
        if conn.expiry is not None:
            conn.expiry.cancel()
        conns = self._parties.get(conn.party_id)
        if conns is not None and conn in conns:
            conns.discard(conn)
            metrics.WS_CONNECTIONS.dec()
            if not conns:
                del self._parties[conn.party_id]
        if not self._parties:
            self._all_closed.set()

    def set_expiry(self, conn: Connection, expires_at: int) -> None:
        """Close with 4401 when the token expires (a fresh `auth` message moves this)."""
        if conn.expiry is not None:
            conn.expiry.cancel()
        delay = max(0.0, expires_at - time.time())
        conn.expiry = asyncio.get_running_loop().call_later(
            delay, conn.close, CloseCode.AUTH_FAILED, "token expired"
        )

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: DomainEvent, ts: str) -> None:
        """Backplane listener: serialise once, hand the same frame to every socket of the
        party (written at once to those with nothing queued)."""
        conns = self._parties.get(event.party_id)
        if not conns:
            return
        if event.name.internal:
            for conn in conns:
                conn.note_version(event.version)  # nothing to send, nothing missed either
            if event.name is EventName.MEMBER_LEFT:
                self._member_left(conns, event)
            return
        frame = encode(event.name, event.party_id, event.version, ts, event.data)
        ended = event.name.ends_party
        item = Outgoing(
            version=event.version,
            frame=frame,
            event=event.name,
            close_code=CloseCode.NOT_FOUND if ended else None,
            close_reason="session ended" if ended else "",
        )
        written = 0
        for conn in list(conns):
            written += conn.offer(item)
        if written:
            metrics.count_sent(item.event, written)

    def _member_left(self, conns: set[Connection], event: DomainEvent) -> None:
        user_id = str(event.data.get("user_id", ""))
        removed = event.data.get("removed")
        for conn in list(conns):
            if conn.viewer or str(conn.user_id) != user_id:
                continue
            if removed:
                # Removed by the host or a co-host (unless this socket's snapshot is newer: a
                # kicked member who joined again).
                if conn.snapshot_version is None or event.version > conn.snapshot_version:
                    conn.close(CloseCode.REMOVED, f"removed from the session ({removed})")
            elif conn.snapshot_version is None:
                conn.left_version = max(conn.left_version or 0, event.version)
            elif event.version > conn.snapshot_version:
                conn.close(CloseCode.NOT_MEMBER, "left the session")

    # -- resync ------------------------------------------------------------------------------

    async def resync(self, conn: Connection) -> None:
        """Send `conn` a fresh snapshot ahead of anything queued (membership re-checked)."""
        if conn.resyncing:
            conn.resync_again = True
            return
        conn.resyncing = True
        try:
            while conn.close_code is None:
                conn.resync_again = False
                conn.pause()
                try:
                    snapshot = await self.snapshot_frame(conn)
                except Refused as refused:
                    conn.close(refused.code, refused.reason)
                    return
                conn.resume_with(snapshot)
                if not conn.resync_again:
                    return
        except Exception:
            log.exception("realtime_resync_failed", session_id=str(conn.party_id))
            conn.close(CloseCode.INTERNAL, "resync failed")
        finally:
            conn.resyncing = False

    async def snapshot_frame(self, conn: Connection) -> Outgoing:
        """The caller's `session.snapshot` frame (membership checked by the source; a viewer
        gets the read-only view, refused once the party ended)."""
        if conn.viewer:
            view = await self.source.viewer_view(party_id=conn.party_id)
        else:
            view = await self.source.view(claims=conn.claims, party_id=conn.party_id)
        frame = encode(SNAPSHOT, conn.party_id, view.version, now_iso(), view.data)
        return Outgoing(
            version=view.version, frame=frame, event=SNAPSHOT, control=True, snapshot=True
        )

    def on_gap(self) -> None:
        """Backplane listener: events may have been lost; repair every socket that missed some.

        Exact: a socket is resynced when its party's version in the database is above the
        version up to which the socket got every change (`contiguous_version`). A lost event
        was committed before the resubscription, so the repair query (made after it) sees
        its version; events arriving meanwhile, local or remote, cannot hide the hole, since
        they do not move `contiguous_version` past it."""
        if self._gap_pending:
            return
        self._gap_pending = True
        self._spawn(self._repair_gap())

    async def _repair_gap(self) -> None:
        self._gap_pending = False
        party_ids = list(self._parties)
        if not party_ids:
            return
        try:
            states = await self.source.states(party_ids)
        except Exception as exc:
            log.warning("realtime_gap_check_failed", error=type(exc).__name__)
            states = {}  # cannot tell: resync everyone
        stale: list[Connection] = []
        for party_id in party_ids:
            found = states.get(party_id)
            for conn in list(self._parties.get(party_id, ())):
                if conn.close_code is not None:
                    continue
                if not conn.ready:
                    # Its first snapshot is in flight and may predate a lost event: one more.
                    if not states or (found is not None and not found.ended):
                        stale.append(conn)
                elif states and (found is None or found.ended):
                    conn.close(CloseCode.NOT_FOUND, "session ended", flush=True)
                elif not states or found is None or found.version > conn.contiguous_version:
                    stale.append(conn)
        log.info("realtime_gap_repair", sessions=len(party_ids), resyncs=len(stale))
        await asyncio.gather(*(self._limited_resync(conn) for conn in stale))

    async def _limited_resync(self, conn: Connection) -> None:
        async with self._resync_limit:
            await self.resync(conn)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- presence ----------------------------------------------------------------------------

    def presence_interval(self) -> float:
        configured = self.settings.realtime_presence_interval_seconds
        return configured if configured > 0 else max(1.0, self.settings.presence_ttl_seconds / 3)

    async def _presence_loop(self) -> None:
        interval = self.presence_interval()
        while True:
            await asyncio.sleep(interval)
            await self.refresh_presence()

    async def refresh_presence(self) -> None:
        # Members only: a TV watching keeps neither a user present nor a party active.
        ready = [conn for conn in self.connections() if conn.ready and not conn.viewer]
        if not ready:
            return
        try:
            await self.source.touch(
                user_ids={conn.user_id for conn in ready},
                party_ids={conn.party_id for conn in ready},
            )
        except Exception as exc:
            log.warning("realtime_presence_failed", error=type(exc).__name__)
