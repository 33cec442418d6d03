"""When the next round or job run is due: one cadence for the probes and the replication jobs.

Runs start on monotonic deadlines with a stable per-name phase, so that many services do not
all probe in the same instant: bursts would queue at the targets and in the loop and show up
as interval jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import zlib
from collections.abc import Awaitable, Callable


def next_deadline(deadline: float, interval: float, now: float) -> float:
    """The tick after `deadline`; if a run overran, the first tick after `now`, same phase."""
    deadline += interval
    if deadline <= now:  # skip the ticks the run ate, keep the phase
        deadline += math.ceil((now - deadline) / interval) * interval
    return deadline


def phase(name: str, interval: float) -> float:
    """A service's stable offset within the interval (the same name, the same offset)."""
    return zlib.crc32(name.encode()) % 1000 / 1000 * interval


async def every(
    interval: float, offset: float, stopping: asyncio.Event, tick: Callable[[], Awaitable[float]]
) -> None:
    """Call `tick` every `interval` after `offset`, on monotonic deadlines, until `stopping`.

    A tick that overruns skips the ticks it ate (never two at once, never a burst to catch up).
    A tick returns when it wants the next one: sooner than `interval` re-probes that long after
    the end of this one (a suspect side is confirmed fast), then the cadence resumes.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + offset
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), offset)
    while not stopping.is_set():
        step = await tick()
        now = loop.time()
        deadline = now + step if step < interval else next_deadline(deadline, interval, now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), deadline - now)
