"""Starting and stopping the realtime machinery with the app."""

from __future__ import annotations

from queueit.core.state import AppState
from queueit.realtime.backplane import InMemoryBackplane


async def start(state: AppState) -> None:
    state.backplane = InMemoryBackplane()
    await state.backplane.start()


async def stop(state: AppState) -> None:
    if state.backplane is not None:
        await state.backplane.stop()
