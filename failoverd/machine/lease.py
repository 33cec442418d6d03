"""Who may take the Lease, and how long a leader may act: leader election's rules, pure.

Time is the reader's own monotonic clock, passed in. A candidate never judges expiry by the
timestamps written in the Lease (two hosts' clocks differ): it times how long the Lease has
stayed *unchanged* since it first saw it so, as client-go does. Safety also rests on the writes
being conditional (a PUT on a stale resourceVersion is refused), which is the adapter's part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


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
    """The view after a read whose answer came back at `now`: an unchanged Lease keeps the time
    it was first seen; any change (a renewal, a new holder, a release) starts its clock again.

    `now` is when the answer arrived, never when the request was sent: the API server may have
    read the Lease at any moment in between, after a renewal that landed while the request was
    on its way. Stamped at the send, a slow read would date that renewal up to a whole request
    timeout too early, and the candidate would take the Lease that much too soon."""
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


def timing_fault(lease_duration: float, renew_deadline: float, retry_period: float) -> str | None:
    """Why these leader election timings could let two replicas act at once (None: they cannot).

    retry < renew < lease is client-go's order. On top of it, lease - renew must exceed a retry
    period: a candidate's read may take up to a retry period (its timeout), so a reader that
    dated what it saw by the request's send could be a retry period early; the margin keeps the
    holder's last act before the candidate's first even then (it costs nothing at the defaults,
    15 - 10 > 2), and covers host clocks that do not tick at quite the same rate.
    """
    if not retry_period < renew_deadline < lease_duration:
        return "need retry_period < renew_deadline < lease_duration"
    if lease_duration - renew_deadline <= retry_period:
        return (
            f"need lease_duration - renew_deadline > retry_period (here {lease_duration:g}s - "
            f"{renew_deadline:g}s = {lease_duration - renew_deadline:g}s, retry_period "
            f"{retry_period:g}s): otherwise a replica may take the lease while its holder still acts"
        )
    return None


def claim_epoch(lease_epoch: int, highest_in_state: int) -> int:
    """The epoch a new leader writes the state with: the Lease's (its leaseTransitions), unless
    the state already carries that epoch or a higher one, written by someone else.

    A Lease deleted and created again counts leaseTransitions from 1, while the state still
    holds the old leaders' epochs: max(leaseTransitions, highest in the state) + 1 keeps every
    epoch above any the state has seen, so a deposed leader's write meets a newer one.
    """
    return max(lease_epoch, highest_in_state + 1)


ConflictVerdict = Literal["again", "claim", "deposed"]


def after_conflict(mine: int, found: int | None, by_me: bool, claiming: bool) -> ConflictVerdict:
    """What a writer at epoch `mine` does when its conditional write met a 409 and a re-read
    found the object at epoch `found` (None: it is gone), written by itself or not.

    - again: gone (create it again), or our own earlier write landed and only its answer was
      lost: write ours again on the fresh resourceVersion;
    - claim: while claiming the state, an older leader wrote after we read: its write is the
      newest journal (a step it finished), so we claim the object as it now is, never our copy;
    - deposed: any other epoch (higher: a newer leader; lower after our claim, or equal but not
      ours: another writer) means this process is not the only writer: it stops.
    """
    if found is None or (found == mine and by_me):
        return "again"
    if claiming and found < mine:
        return "claim"
    return "deposed"
