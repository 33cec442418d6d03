"""The daemon's one clock, injected: monotonic for durations, wall for timestamps people read.

Durations (step times, job runs, deadlines) come from the monotonic source, which wall-clock
jumps cannot bend; the wall clock only stamps what is shown or persisted across restarts
(events, plan start and end, the RTO's start, a job's newest success). Tests pass their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float:
        """Seconds since the epoch, for timestamps people read and for what outlives the process."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (the event loop's own source), for durations."""


@dataclass(frozen=True)
class SystemClock:
    """time.time() and time.monotonic() (asyncio's loop.time() reads the same monotonic clock)."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM = SystemClock()


@dataclass(frozen=True)
class LoopClock:
    """Both clocks from the running event loop (so looptime's fake time drives them in tests)."""

    epoch: float = 1_700_000_000.0  # what wall() reads when the loop's clock reads 0

    def wall(self) -> float:
        return self.epoch + self.monotonic()

    def monotonic(self) -> float:
        import asyncio

        return asyncio.get_running_loop().time()
