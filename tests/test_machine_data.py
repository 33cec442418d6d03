"""The data tier's decisions, by table and by property: the loss bound covers what is lost, and
nothing is promoted while the standby streams from a live writer unless forced."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from failoverd.machine.data import (
    DataTrack,
    StandbyRead,
    WriterRead,
    loss_bound,
    observe,
    parse_lsn,
    promotion,
)

EVERY = 1.0


def test_an_lsn_reads_as_a_byte_position():
    assert parse_lsn("0/0") == 0 and parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848


def test_a_writer_read_is_in_sync_once_the_standby_replayed_it():
    t = observe(DataTrack(), WriterRead(10.0, 100), StandbyRead(10.0, 50, True), 10.0)
    assert t.in_sync_at is None and loss_bound(t, 10.0, EVERY) is None
    t = observe(t, WriterRead(11.0, 180), StandbyRead(11.0, 120, True), 11.0)
    assert t.in_sync_at == 10.0 and loss_bound(t, 11.0, EVERY) == 1.0
    assert [w.lsn for w in t.pending] == [180]


def test_the_receiver_keeps_it_fresh_when_failoverd_cannot_reach_the_writer():
    t = observe(DataTrack(), None, StandbyRead(20.0, 500, True, 500, 19.5, 19.9), 20.0)
    assert (t.in_sync_at, t.last_alive, t.streaming) == (19.5, 19.9, True)
    verdict = promotion(t, 20.0, EVERY, max_data_loss=30.0)
    assert verdict.verdict == "primary_db_alive" and not verdict.allowed
    forced = promotion(t, 20.0, EVERY, max_data_loss=30.0, force=True)
    assert forced.allowed and forced.forced and forced.verdict == "ungraceful"


def test_a_dead_writers_bound_is_frozen_and_judged_against_max_data_loss():
    t = observe(DataTrack(), WriterRead(10.0, 100), StandbyRead(10.0, 100, True), 10.0)
    t = observe(t, None, StandbyRead(15.0, 100, False), 15.0)  # stream stopped, writer silent
    assert loss_bound(t, 15.0, EVERY) == 1.0 == loss_bound(t, 500.0, EVERY)
    assert promotion(t, 500.0, EVERY, max_data_loss=5.0).verdict == "primary_db_alive", (
        "a standby read long ago says nothing of its stream now"
    )
    t = observe(t, None, StandbyRead(499.5, 100, False), 499.5)
    assert promotion(t, 500.0, EVERY, max_data_loss=5.0).verdict == "ungraceful"
    over = promotion(t, 500.0, EVERY, max_data_loss=0.5)
    assert over.verdict == "data_loss_over_bound" and "1.0s" in over.reason


def test_a_writer_that_answers_is_a_graceful_move_that_loses_nothing():
    t = observe(DataTrack(), WriterRead(10.0, 100), StandbyRead(10.0, 10, True), 10.0)
    p = promotion(t, 10.0, EVERY, max_data_loss=0.0)
    assert (p.verdict, p.loss_bound) == ("graceful", 0.0)


def test_never_seen_in_sync_is_never_promoted_without_force():
    t = observe(DataTrack(), None, StandbyRead(10.0, 10, False), 10.0)
    assert promotion(t, 10.0, EVERY, max_data_loss=1e9).verdict == "data_loss_over_bound"


reads = st.lists(
    st.tuples(
        st.booleans(),  # the writer answered
        st.booleans(),  # the standby answered
        st.booleans(),  # it streams
        st.integers(0, 50),  # replay lag in LSN units
    ),
    max_size=40,
)


@settings(max_examples=500)
@given(reads, st.booleans())
def test_nothing_is_promoted_while_the_standby_streams_from_a_live_writer_unless_forced(
    history, force
):
    """Judged against what happened, not the machine's memory: an ungraceful promotion without
    force needs the standby read within two rounds, not streaming then."""
    t, lsn, last_read = DataTrack(), 0, None
    for i, (w, s, streaming, lag) in enumerate(history):
        now = float(i)
        lsn += 10
        if s:
            last_read = (now, streaming)
        t = observe(
            t,
            WriterRead(now, lsn) if w else None,
            StandbyRead(now, max(0, lsn - lag), streaming) if s else None,
            now,
        )
        p = promotion(t, now, EVERY, max_data_loss=5.0, force=force)
        if p.verdict == "ungraceful" and not force:
            assert last_read is not None and now - last_read[0] <= 2 * EVERY, "stale standby"
            assert not last_read[1], "two writers: the standby streamed from a live writer"
            assert p.loss_bound is not None and p.loss_bound <= 5.0


@settings(max_examples=300)
@given(
    every=st.floats(0.2, 5.0),
    death=st.floats(5.0, 100.0),
    lag=st.floats(0.0, 30.0),
    later=st.floats(0.0, 500.0),
)
def test_the_bound_covers_every_second_of_writes_a_dead_writer_takes_with_it(
    every, death, lag, later
):
    """Writes commit steadily (the LSN is the time); the standby replays `lag` behind; the
    writer dies at `death`. What is lost is what was written after the last replayed position;
    the frozen bound must cover it, whenever it is asked."""
    t, k = DataTrack(), 0
    while k * every < death:
        now = k * every
        t = observe(
            t,
            WriterRead(now, int(now * 1000)),
            StandbyRead(now, int(max(0.0, now - lag) * 1000), True),
            now,
        )
        k += 1
    replayed = max(0.0, (k - 1) * every - lag)
    t = observe(t, None, StandbyRead(death, int(replayed * 1000), False), death)
    bound = loss_bound(t, death + later, every)
    lost = death - replayed
    assert bound is not None and bound + 1e-3 >= lost, (bound, lost)
    assert bound <= lost + 2 * every + 1e-3, "within two reads of what was lost"
