"""Backplanes carry committed domain events to every instance's hub."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from queueit.core.db import DomainEvent

Listener = Callable[[DomainEvent], None]


class Backplane(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish_many(self, events: list[DomainEvent]) -> None: ...

    def add_listener(self, listener: Listener) -> None: ...

    def health(self) -> str: ...


class InMemoryBackplane:
    """Single-process default: events go straight to this process's listeners."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._listeners.clear()

    async def publish_many(self, events: list[DomainEvent]) -> None:
        for event in events:
            for listener in self._listeners:
                listener(event)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def health(self) -> str:
        return "ok"
