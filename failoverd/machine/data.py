"""The data tier's decisions: how much committed data a promotion would lose now, and whether
the standby database may be promoted at all. Pure: the reads come in, with their times.

- `in_sync_at`: the newest moment the writer's WAL position is known to have been replayed by
  the standby: from failoverd's own reads (the writer's LSN read at T, replayed later: in sync
  at T) and from the standby's WAL receiver (its `latest_end_lsn` replayed: in sync at
  `latest_end_time`), so a writer failoverd cannot reach but that still streams keeps it fresh.
- `last_alive`: the newest moment the writer is known to have been up: failoverd's last good
  read of it, or the receiver's last message from it.
- The loss bound (an upper bound on what a promotion now would lose) is `now - in_sync_at`
  while the writer is alive; once it is not, it is frozen at `(last_alive + every) - in_sync_at`.

A standby that still streams from the writer proves the writer alive: promoting it would make
two writers, so `promotion` vetoes it (`primary_db_alive`) unless forced; a bound over
`max_data_loss` vetoes it too (`data_loss_over_bound`). A writer that answers is fenced and
caught up first (graceful): nothing committed is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

PENDING = 3600  # writer reads kept until the standby replays them (the oldest go first)


@dataclass(frozen=True)
class WriterRead:
    """The writer's `pg_current_wal_lsn()`, read at `at` (seconds)."""

    at: float
    lsn: int


@dataclass(frozen=True)
class StandbyRead:
    """The standby's replay position and its WAL receiver, read at `at`."""

    at: float
    replay_lsn: int
    streaming: bool  # pg_stat_wal_receiver.status = 'streaming'
    latest_end_lsn: int | None = None  # the writer's position as the receiver last heard it
    latest_end_time: float | None = None  # when it heard that position
    last_msg_at: float | None = None  # the receiver's last message from the writer (alive then)


@dataclass(frozen=True)
class DataTrack:
    """What the machine remembers of the two databases between reads."""

    in_sync_at: float | None = None
    last_alive: float | None = None
    writer_up: bool = False  # the last read of the writer succeeded
    streaming: bool = False  # the standby's receiver streamed at its last read
    standby_read_at: float | None = None  # when the standby last answered
    pending: tuple[WriterRead, ...] = ()  # writer positions not yet seen replayed


def observe(
    track: DataTrack, writer: WriterRead | None, standby: StandbyRead | None, now: float
) -> DataTrack:
    """Fold one round of reads (None: that database did not answer) into the track."""
    in_sync, alive, pending = track.in_sync_at, track.last_alive, track.pending
    if writer is not None:
        alive = _latest(alive, writer.at)
        pending = (*pending, writer)[-PENDING:]
    streaming, standby_at = track.streaming, track.standby_read_at
    if standby is not None:
        streaming, standby_at = standby.streaming, standby.at
        replayed = [w for w in pending if w.lsn <= standby.replay_lsn]
        if replayed:
            in_sync = _latest(in_sync, max(w.at for w in replayed))
        pending = tuple(w for w in pending if w.lsn > standby.replay_lsn)
        if standby.last_msg_at is not None:
            alive = _latest(alive, min(standby.last_msg_at, now))
        heard = standby.latest_end_time
        if heard is not None and standby.latest_end_lsn is not None:
            if standby.latest_end_lsn <= standby.replay_lsn:
                in_sync = _latest(in_sync, min(heard, now))
    return replace(
        track,
        in_sync_at=in_sync,
        last_alive=alive,
        writer_up=writer is not None,
        streaming=streaming,
        standby_read_at=standby_at,
        pending=pending,
    )


def loss_bound(track: DataTrack, now: float, every: float) -> float | None:
    """Seconds of committed writes a promotion now could lose (None: never seen in sync)."""
    if track.in_sync_at is None:
        return None
    if track.writer_up or track.streaming:
        return max(0.0, now - track.in_sync_at)
    alive = track.last_alive if track.last_alive is not None else track.in_sync_at
    return max(0.0, min(now, alive + every) - track.in_sync_at)


Verdict = Literal["graceful", "ungraceful", "primary_db_alive", "data_loss_over_bound"]


@dataclass(frozen=True)
class Promotion:
    """May the standby be promoted, how, and what it would lose."""

    verdict: Verdict
    reason: str
    loss_bound: float | None = None
    forced: bool = False

    @property
    def allowed(self) -> bool:
        return self.verdict in ("graceful", "ungraceful")


def promotion(
    track: DataTrack, now: float, every: float, max_data_loss: float, force: bool = False
) -> Promotion:
    """Promote the standby now? Graceful when the writer answers (fenced, caught up: nothing
    lost); ungraceful only when its stream stopped and the bound is within max_data_loss."""
    if track.writer_up:
        return Promotion("graceful", "the writer answers: fence it, catch up, promote", 0.0)
    bound = loss_bound(track, now, every)
    unread = track.standby_read_at is None or now - track.standby_read_at > 2 * every
    if unread and not force:
        return Promotion(
            "primary_db_alive",
            "the standby did not answer lately: it may be streaming from a writer failoverd "
            "cannot reach, and promoting would make two writers (force if you know better)",
            bound,
        )
    if track.streaming and not force:
        return Promotion(
            "primary_db_alive",
            "the standby still streams from the writer: the writer is alive, and promoting "
            "would make two writers (fix the path to it, or force)",
            bound,
        )
    if (bound is None or bound > max_data_loss) and not force:
        shown = "unknown (the standby was never seen in sync)" if bound is None else f"{bound:.1f}s"
        return Promotion(
            "data_loss_over_bound",
            f"promoting now could lose {shown} of committed writes, over max_data_loss "
            f"{max_data_loss:g}s",
            bound,
        )
    why = "the writer does not answer and its stream stopped"
    if force:
        why += ": FORCED by an operator"
    return Promotion("ungraceful", why, bound, forced=force)


def parse_lsn(text: str) -> int:
    """A PostgreSQL LSN ('16/B374D848') as a byte position."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _latest(a: float | None, b: float) -> float:
    return b if a is None else max(a, b)
