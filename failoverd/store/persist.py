"""Saving one service's record: never lost, never blocking a round, never silent when it fails.

A transition asks for a save and goes on (`request`): the round loop must keep probing on a
full or read-only disk. A failed save is logged, counted and shown on /healthz, and the record
stays dirty, so the next round saves it again (`flush`). A plan's journal is different: no step
may run before the journal that says it is running is on disk, or a crash could lose the fact
that a fence or a switch ran. `durable` therefore waits, retrying with backoff, until the save
lands; the plan goes on once the disk takes writes again.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import tenacity

from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.store.records import ServiceRecord


class RecordStore(Protocol):
    async def save(self, name: str, record: ServiceRecord) -> None: ...


class ServicePersistence:
    RETRY_MIN, RETRY_MAX = 0.5, 10.0  # seconds between attempts of a durable save

    def __init__(
        self, name: str, record: ServiceRecord, store: RecordStore, metrics: Metrics, log: Logger
    ) -> None:
        self.name, self.record, self.store, self.metrics, self.log = (
            name,
            record,
            store,
            metrics,
            log,
        )
        self.dirty = False
        self.error: str | None = None  # the last save's error while saves fail
        self._pending: set[asyncio.Task[bool]] = set()

    async def _save(self) -> bool:
        try:
            await self.store.save(self.name, self.record)
        except OSError as e:
            self.dirty = True
            first = self.error is None
            self.error = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
            self.metrics.persist_failures.labels(self.name).inc()
            (self.log.error if first else self.log.warning)(
                "persist_failed", error=self.error, detail="kept in memory, retried"
            )
            return False
        if self.error is not None:
            self.log.warning("persist_recovered", was=self.error)
        self.dirty, self.error = False, None
        return True

    def request(self) -> None:
        """Save soon, without waiting (a transition: the loop goes on)."""
        self.dirty = True
        task = asyncio.get_running_loop().create_task(self._save())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> bool:
        """Save now if a save is owed; True when the record on disk is current."""
        if self._pending:
            await asyncio.gather(*self._pending)
        if self.dirty:
            return await self._save()
        return True

    async def durable(self) -> None:
        """Save and wait until it is on disk, retrying with backoff for as long as it takes."""
        self.dirty = True
        retrying = tenacity.AsyncRetrying(
            wait=tenacity.wait_exponential_jitter(multiplier=self.RETRY_MIN, max=self.RETRY_MAX),
            retry=tenacity.retry_if_result(lambda saved: not saved),
        )
        await retrying(self.flush)
