"""Keeping Python's cyclic garbage collector out of the probes' way.

At 2,000 services the collector was the interval jitter: a young collection every 700 net
allocations and, every few seconds, a full one that walked every object the daemon holds,
150-700 ms with the event loop stopped, every probe due then late. A round's objects die by
reference counting, not by the collector, so:

- `tune()`: a young collection every 10,000 net allocations (in a steady state the collector
  hardly runs), and what is loaded so far (imports, the config) frozen out of its walks;
- `keep_tidy()`: after the first rounds, freeze what start-up built (probes, connections,
  tasks, metrics); once an hour, a full collection and a new freeze, so cyclic garbage among
  frozen objects (a replaced connection, say) is still reclaimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools

YOUNG = 10_000  # net allocations between two young collections (Python's default: 700)
REFREEZE = 3600.0  # seconds between two full collections


def tune() -> None:
    gc.freeze()
    gc.set_threshold(YOUNG, 10, 10)


async def keep_tidy(stop: asyncio.Event, first_rounds: float, every: float = REFREEZE) -> None:
    """Freeze after `first_rounds` seconds, then collect and freeze again `every` seconds."""
    for wait in itertools.chain([first_rounds], itertools.repeat(every)):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        if stop.is_set():
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
