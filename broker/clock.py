"""Time as a dependency: logic takes a ``Clock`` or a ``now`` value, never reads the wall."""

from __future__ import annotations

import time
from collections.abc import Callable

# Seconds since the epoch. Integers are what JWT claims carry; floats keep sub-second audit times.
Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()


class FrozenClock:
    """A clock for tests and replays: it moves only when told."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
