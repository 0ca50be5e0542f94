"""A clock tests move by hand, for code that takes one (`clock: Callable[[], float]`): time
windows (refetch throttles, rate limits, caches) are then driven, not waited for."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
