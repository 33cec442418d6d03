"""The Lease rules (machine/lease.py): tables, and the no-overlap argument as properties."""

from __future__ import annotations

import bisect
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failoverd.machine import LeaseSeen, acting_until, may_take, next_try, observe

DURATION, RENEW_DEADLINE, RETRY = 15.0, 10.0, 2.0


def test_an_unchanged_lease_keeps_the_time_it_was_first_seen_and_a_change_restarts_it():
    first = observe(None, "a", ("a", "t1", "1"), DURATION, 100.0)
    again = observe(first, "a", ("a", "t1", "1"), DURATION, 110.0)
    renewed = observe(again, "a", ("a", "t2", "2"), DURATION, 111.0)
    assert (first.since, again.since, renewed.since) == (100.0, 100.0, 111.0)
    assert renewed.expires_at == 126.0


@pytest.mark.parametrize(
    ("holder", "me", "now", "takes"),
    [
        ("", "b", 0.0, True),  # released
        ("b", "b", 0.0, True),  # this candidate's own earlier life
        ("a", "b", 14.99, False),  # held, not yet expired
        ("a", "b", 15.0, True),  # unchanged for a whole duration
    ],
)
def test_who_may_take_the_lease(holder, me, now, takes):
    seen = LeaseSeen(holder, (holder, "t", "1"), since=0.0, duration=DURATION)
    assert may_take(seen, me, now) is takes


gaps = st.lists(st.floats(0.01, 40.0), min_size=1, max_size=30)


def _times(steps: list[float], start: float = 0.0) -> list[float]:
    return list(itertools.accumulate(steps, initial=start))[1:]


@settings(max_examples=500)
@given(renewals=gaps, reads=gaps, lag=st.floats(0.0, 2.0))
def test_a_candidate_takes_the_lease_only_after_its_holder_stopped_acting(renewals, reads, lag):
    """Holder a's renewals land at `landed` (sent `lag` earlier); candidate b reads at `reads`
    and sees the newest renewal landed by then. Whenever b may take the lease, a's newest
    renewal is a whole duration old, so a stopped acting (sent + renew deadline) before."""
    landed = _times(renewals)
    seen = None
    for now in _times(reads):
        i = bisect.bisect_right(landed, now) - 1
        if i < 0:
            continue  # nothing written yet
        seen = observe(seen, "a", ("a", i), DURATION, now)
        if may_take(seen, "b", now):
            assert landed[i] + DURATION <= now
            assert acting_until(landed[i] - lag, RENEW_DEADLINE) < now


@settings(max_examples=300)
@given(renewals=gaps, offset=st.floats(0.0, RETRY, exclude_max=True))
def test_a_holder_that_stopped_renewing_loses_the_lease_within_a_duration_and_a_retry(
    renewals, offset
):
    """b reads as the elector does (every retry period, and at the moment the lease it saw
    expires); a's last renewal lands at `last`: b takes the lease no later than last + duration
    + retry (the first read that sees that renewal is at most a retry after it)."""
    landed = _times(renewals)
    last, seen, took = landed[-1], None, None
    now = offset
    while took is None:
        i = bisect.bisect_right(landed, now) - 1
        if i >= 0:
            seen = observe(seen, "a", ("a", i), DURATION, now)
            if may_take(seen, "b", now):
                took = now
        now += next_try(seen, now, RETRY)
    assert took <= last + DURATION + RETRY + 1e-9


@pytest.mark.parametrize(
    ("since", "now", "wait"),
    [(None, 5.0, RETRY), (0.0, 5.0, RETRY), (0.0, 14.0, 1.0), (0.0, 15.0, 0.0), (0.0, 20.0, 0.0)],
)
def test_a_candidate_reads_again_after_a_retry_or_at_the_moment_the_lease_expires(since, now, wait):
    seen = None if since is None else LeaseSeen("a", ("a", 1), since, DURATION)
    assert next_try(seen, now, RETRY) == wait
