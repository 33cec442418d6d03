"""The data tier's reads against a real PostgreSQL pair: what the machine's loss bound is fed."""

from __future__ import annotations

import pytest

from failoverd.clients.postgres import DatabaseError, read_standby, read_writer
from failoverd.machine.data import DataTrack, loss_bound, observe, promotion
from tests.lab import postgres

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not postgres.available(), reason="Debian's postgresql is not installed"),
]


@pytest.fixture(scope="module")
def pg():
    with postgres.pair() as servers:
        yield servers


async def test_a_streaming_standby_is_in_sync_and_vetoes_a_promotion_while_it_streams(pg):
    writer, standby = pg
    writer.sql("CREATE TABLE IF NOT EXISTS rows (n int); INSERT INTO rows VALUES (1)")
    w = await read_writer(writer.dsn, 5.0)
    track = observe(DataTrack(), w, None, w.at)
    for _ in range(100):  # replay is quick on loopback; bounded, each read awaited
        s = await read_standby(standby.dsn, 5.0)
        track = observe(track, None, s, s.at)
        if track.in_sync_at is not None and s.streaming:
            break
    assert s.streaming and s.replay_lsn >= w.lsn
    assert track.in_sync_at is not None and track.in_sync_at >= w.at
    assert loss_bound(track, s.at, 1.0) is not None
    veto = promotion(observe(track, None, s, s.at), s.at, 1.0, max_data_loss=30.0)
    assert veto.verdict == "primary_db_alive", "a streaming standby proves a live writer"


async def test_each_side_is_read_as_what_it_is_or_refused_with_a_reason(pg):
    writer, standby = pg
    with pytest.raises(DatabaseError, match="in recovery"):
        await read_writer(standby.dsn, 5.0)
    with pytest.raises(DatabaseError, match="not in recovery"):
        await read_standby(writer.dsn, 5.0)
    with pytest.raises(DatabaseError, match="writer: "):
        await read_writer("host=127.0.0.1 port=1 dbname=postgres user=postgres", 2.0)


async def test_while_replay_is_paused_the_bound_grows_with_the_writers_unreplayed_writes(pg):
    writer, standby = pg
    standby.sql("SELECT pg_wal_replay_pause()")
    try:
        writer.sql("CREATE TABLE IF NOT EXISTS rows (n int); INSERT INTO rows VALUES (2)")
        first = await read_writer(writer.dsn, 5.0)
        s = await read_standby(standby.dsn, 5.0)
        track = observe(DataTrack(in_sync_at=first.at - 10.0), first, s, s.at)
        assert s.replay_lsn < first.lsn and track.pending, "not replayed: still pending"
        later = s.at + 5.0
        assert loss_bound(track, later, 1.0) == pytest.approx(later - track.in_sync_at)
    finally:
        standby.sql("SELECT pg_wal_replay_resume()")


async def test_a_user_that_cannot_see_the_wal_receiver_is_refused_not_read_as_not_streaming(pg):
    """Without pg_read_all_stats every receiver column but pid reads NULL: "not streaming"
    would let a live writer's standby be promoted (two writers)."""
    writer, standby = pg
    writer.sql("DROP ROLE IF EXISTS mon; CREATE ROLE mon LOGIN")
    mon = standby.dsn.replace("user=postgres", "user=mon")
    for _ in range(100):  # the role reaches the standby through replication
        try:
            await read_standby(mon, 5.0)
        except DatabaseError as e:
            if "pg_read_all_stats" in str(e):
                break
            continue
    else:
        pytest.fail("a user without pg_read_all_stats read the standby as not streaming")


async def test_a_connection_string_never_shows_its_password_in_a_reason():
    with pytest.raises(DatabaseError) as e:
        await read_writer("host=127.0.0.1 port=1 password=Sup3r secret", 2.0)
    assert "Sup3r" not in str(e.value) and "secret" not in str(e.value)
