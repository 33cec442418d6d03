"""The Lease rules (machine/lease.py): tables, and the no-overlap argument as properties."""

from __future__ import annotations

import bisect
import itertools

import pydantic
import pytest
import yaml
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from failoverd import config
from failoverd.machine import LeaseSeen, acting_until, may_take, next_try, observe
from failoverd.machine.lease import after_conflict, claim_epoch

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


def _accepted(lease_ms: int, renew_ms: int, retry_ms: int) -> bool:
    """Whether `failoverd validate` accepts these leader election timings."""
    try:
        config.LeaderElectionConfig(
            cluster="arbiter",
            lease_duration=f"{lease_ms}ms",
            renew_deadline=f"{renew_ms}ms",
            retry_period=f"{retry_ms}ms",
        )
    except pydantic.ValidationError:
        return False
    return True


# (lease, renew, retry) in milliseconds, in client-go's order retry < renew < lease
ordered = st.builds(
    lambda retry, more, most: (retry + more + most, retry + more, retry),
    st.integers(50, 5_000),
    st.integers(1, 15_000),
    st.integers(1, 15_000),
)
# a candidate's reads: the pause before it sends, then where in its request's timeout (a retry
# period) the API server reads the Lease, and where in the rest the answer comes back
reads_with_latency = st.lists(
    st.tuples(st.floats(0.0, 20.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    min_size=1,
    max_size=30,
)


def _slow_reads(reads: list[tuple[float, float, float]], timeout: float):
    """(sent, served, answered) of each read, one after another, each within its timeout."""
    t = 0.0
    for pause, queue, back in reads:
        sent = t + pause
        served = sent + queue * timeout
        t = served + back * (sent + timeout - served)
        yield sent, served, t


def _overlap(timing, renewals, reads, stamp_at_answer: bool) -> str | None:
    """Holder a renews (each renewal lands at `landed`, and a acts until it + renew deadline:
    the renewal was sent no later than it landed); candidate b reads slowly. The first moment
    b may take the Lease while a still acts, if any."""
    lease, renew, retry = (x / 1000 for x in timing)
    landed = _times(renewals)
    seen = None
    for sent, served, answered in _slow_reads(reads, retry):
        i = bisect.bisect_right(landed, served) - 1
        if i < 0:
            continue
        seen = observe(seen, "a", ("a", i), lease, answered if stamp_at_answer else sent)
        newer = bisect.bisect_right(landed, answered) - 1 > i  # b's conditional PUT meets a 409
        if may_take(seen, "b", answered) and not newer and answered < landed[i] + renew:
            return f"b takes at {answered:.3f}, a acts until {landed[i] + renew:.3f}"
    return None


@settings(max_examples=500)
@given(timing=ordered, renewals=gaps, reads=reads_with_latency)
def test_a_slow_read_never_lets_a_candidate_take_the_lease_while_its_holder_acts(
    timing, renewals, reads
):
    """The elector dates what it read by the answer: safe under client-go's order alone."""
    assert _overlap(timing, renewals, reads, stamp_at_answer=True) is None


@settings(max_examples=500)
@example(timing=(3000, 2500, 1000), renewals=[0.9, 20.0], reads=[(0.1, 0.9, 0.1), (2.2, 0, 0)])
@given(timing=ordered, renewals=gaps, reads=reads_with_latency)
def test_every_accepted_timing_is_safe_even_for_a_reader_that_dates_a_read_by_its_send(
    timing, renewals, reads
):
    """The validation's margin (lease - renew > retry) holds even if a read were dated by its
    send, a whole request timeout early: lease 3 s, renew 2.5 s, retry 1 s is refused."""
    assume(_accepted(*timing))
    assert _overlap(timing, renewals, reads, stamp_at_answer=False) is None


@pytest.mark.parametrize(
    ("lease", "renew", "retry", "fault"),
    [
        ("15s", "10s", "2s", None),
        ("3s", "2s", "500ms", None),
        (
            "3s",
            "2500ms",
            "1s",
            "need lease_duration - renew_deadline > retry_period (here 3s - "
            "2.5s = 0.5s, retry_period 1s)",
        ),
        ("5s", "10s", "2s", "need retry_period < renew_deadline < lease_duration"),
    ],
)
def test_leader_election_timings_that_could_overlap_are_refused(lease, renew, retry, fault):
    doc = (
        f"leader_election: {{cluster: arb, lease_duration: {lease}, renew_deadline: {renew}, "
        f"retry_period: {retry}}}\n"
    )
    try:
        config.LeaderElectionConfig.model_validate(yaml.safe_load(doc)["leader_election"])
    except pydantic.ValidationError as e:
        assert fault is not None and fault in str(e), str(e)
    else:
        assert fault is None


@pytest.mark.parametrize(
    ("lease_epoch", "highest", "epoch"),
    [(1, 0, 1), (3, 2, 3), (1, 5, 6), (4, 4, 5)],  # (1, 5): the Lease was created again
)
def test_a_claim_takes_an_epoch_above_every_one_in_the_lease_and_the_state(
    lease_epoch, highest, epoch
):
    assert claim_epoch(lease_epoch, highest) == epoch


@pytest.mark.parametrize(
    ("found", "by_me", "claiming", "verdict"),
    [
        (None, False, False, "again"),  # deleted: create it again
        (5, True, False, "again"),  # our own write landed, its answer was lost
        (5, True, True, "again"),
        (4, False, True, "claim"),  # an older leader's last write, during our claim: take it
        (6, False, True, "deposed"),  # a newer leader
        (6, False, False, "deposed"),
        (4, False, False, "deposed"),  # an older epoch after our claim: another writer
        (5, False, False, "deposed"),  # our epoch, not our name
    ],
)
def test_what_a_409_means_to_a_writer_at_epoch_5(found, by_me, claiming, verdict):
    assert after_conflict(5, found, by_me, claiming) == verdict
