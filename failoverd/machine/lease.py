"""Who may take the Lease, and how long a leader may act: leader election's rules, pure.

Time is the reader's own monotonic clock, passed in. A candidate never judges expiry by the
timestamps written in the Lease (two hosts' clocks differ): it times how long the Lease has
stayed *unchanged* since it first saw it so, as client-go does. Safety also rests on the writes
being conditional (a PUT on a stale resourceVersion is refused), which is the adapter's part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LeaseSeen:
    """A candidate's view of the Lease: what it last read, and since when it has read that."""

    holder: str  # "" when released
    version: tuple[Any, ...]  # (holder, renewTime, resourceVersion): a change restarts the clock
    since: float  # the reader's time it first read this version
    duration: float  # leaseDurationSeconds as written

    @property
    def expires_at(self) -> float:
        return self.since + self.duration


def observe(
    seen: LeaseSeen | None, holder: str, version: tuple[Any, ...], duration: float, now: float
) -> LeaseSeen:
    """The view after a read at `now`: an unchanged Lease keeps the time it was first seen; any
    change (a renewal, a new holder, a release) starts its clock again."""
    if seen is not None and seen.version == version:
        return seen
    return LeaseSeen(holder, version, now, duration)


def may_take(seen: LeaseSeen, me: str, now: float) -> bool:
    """Free (released, or held by this candidate's own earlier life) or unchanged for a whole
    lease duration on the reader's clock."""
    return not seen.holder or seen.holder == me or now >= seen.expires_at


def next_try(seen: LeaseSeen | None, now: float, retry_period: float) -> float:
    """Seconds a candidate waits before it reads the Lease again: a retry period, or less when
    the Lease expires sooner (a watch event wakes it earlier still)."""
    expires_at = seen.expires_at if seen is not None else float("inf")
    return min(retry_period, max(0.0, expires_at - now))


def acting_until(renewal_sent: float, renew_deadline: float) -> float:
    """A leader acts until the start of its last good renewal + the renew deadline.

    The renewal landed after it was sent, and no other candidate may take the Lease before that
    landing + the lease duration, so with renew_deadline < lease_duration (validated) the
    leader has stopped before anyone else may start.
    """
    return renewal_sent + renew_deadline
