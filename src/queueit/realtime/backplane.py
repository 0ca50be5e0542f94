"""Backplanes carry committed domain events to every instance's hub."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import structlog

from queueit.core.events import DomainEvent
from queueit.realtime.protocol import now_iso

log = structlog.get_logger(__name__)

# Called with the event and the time it was published (ISO-8601, UTC), on the event loop.
Listener = Callable[[DomainEvent, str], None]
# Called when events may have been lost (the backplane reconnected): hubs resync their sockets.
GapListener = Callable[[], None]


class Backplane(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish_many(self, events: list[DomainEvent]) -> None: ...

    def add_listener(self, listener: Listener) -> None: ...

    def add_gap_listener(self, listener: GapListener) -> None: ...

    def health(self) -> str: ...


def deliver(listeners: list[Listener], events: list[DomainEvent], ts: str) -> None:
    """Hand events to local listeners. A failing listener is logged, never raised: the
    transaction already committed, so the request must not fail because of fan-out."""
    for event in events:
        for listener in listeners:
            try:
                listener(event, ts)
            except Exception:
                log.exception("backplane_listener_failed", event_name=event.name)


class InMemoryBackplane:
    """Single-process default: events go straight to this process's listeners."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._listeners.clear()

    async def publish_many(self, events: list[DomainEvent]) -> None:
        deliver(self._listeners, events, now_iso())

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_gap_listener(self, listener: GapListener) -> None:
        return None  # nothing is ever lost in memory

    def health(self) -> str:
        return "ok"
