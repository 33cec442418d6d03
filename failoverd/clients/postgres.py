"""PostgreSQL, read for the data tier: the writer's WAL position, the standby's replay position
and its WAL receiver. psycopg 3's asyncio API (libpq underneath, so a DSN file holds a libpq
connection string as operators write it: host, port, dbname, user, password, sslmode).

Every read is one short-lived connection under one deadline; a database that does not answer
in time, refuses, or is not what it should be (a "writer" in recovery, a "standby" that is not)
is a DatabaseError with a plain reason, never a traceback. Imported only by a config with
`data.postgres` (the `postgres` extra).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from failoverd.kit.errors import TransientError
from failoverd.machine.data import StandbyRead, WriterRead, parse_lsn


class DatabaseError(TransientError):
    """A database that could not be read as it should be, with the reason in words."""


async def _query(dsn: str, sql: str, timeout: float, what: str) -> tuple[Any, ...]:
    try:
        async with asyncio.timeout(timeout):
            conn = await psycopg.AsyncConnection.connect(
                dsn, connect_timeout=max(1, round(timeout)), autocommit=True
            )
            try:
                cur = await conn.execute(sql)
                row = await cur.fetchone()
            finally:
                await conn.close()
    except TimeoutError:
        raise DatabaseError(f"{what}: no answer within {timeout:g}s") from None
    except psycopg.Error as e:
        raise DatabaseError(f"{what}: {_plain(e)}") from None
    if row is None:
        raise DatabaseError(f"{what}: no row")
    return tuple(row)


async def read_writer(dsn: str, timeout: float) -> WriterRead:
    """The writer's current WAL position; DatabaseError when it is in recovery (a standby)."""
    at = time.time()
    recovering, lsn = await _query(
        dsn,
        "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL "
        "ELSE pg_current_wal_lsn()::text END",
        timeout,
        "writer",
    )
    if recovering:
        raise DatabaseError("writer: it is in recovery (a standby), not a writer")
    return WriterRead(at, parse_lsn(lsn))


# Times come back as ages on the standby's clock, placed on failoverd's by the read's own time:
# no skew between failoverd and the standby. (latest_end_time is stamped by the writer: its
# skew from the standby remains; keep the databases' clocks in sync, as NTP does.)
STANDBY_SQL = """
SELECT pg_is_in_recovery(),
       pg_last_wal_replay_lsn()::text,
       r.pid,
       r.status,
       r.latest_end_lsn::text,
       extract(epoch FROM now() - r.latest_end_time),
       extract(epoch FROM now() - r.last_msg_receipt_time)
FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true
"""


async def read_standby(dsn: str, timeout: float) -> StandbyRead:
    """The standby's replay position and its WAL receiver; DatabaseError when not in recovery."""
    at = time.time()
    recovering, replay, pid, status, end_lsn, end_age, msg_age = await _query(
        dsn, STANDBY_SQL, timeout, "standby"
    )
    if not recovering:
        raise DatabaseError("standby: it is not in recovery: it is a writer (two writers?)")
    if pid is not None and status is None:  # the receiver runs, but its columns are hidden
        raise DatabaseError(
            "standby: this user cannot see the WAL receiver (it needs pg_read_all_stats, or "
            "pg_monitor): whether it streams from the writer is unknown"
        )
    return StandbyRead(
        at,
        parse_lsn(replay) if replay else 0,
        streaming=status == "streaming",
        latest_end_lsn=parse_lsn(end_lsn) if end_lsn else None,
        latest_end_time=at - float(end_age) if end_age is not None else None,
        last_msg_at=at - float(msg_age) if msg_age is not None else None,
    )


def _plain(e: Exception) -> str:
    """The driver's first line, never a piece of the connection string (a password)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "connection info string" in text or "password" in text.lower():
        return "the connection string is not valid, or its password was refused (not shown)"
    return text
