"""The Kubernetes Lease loop: one replica leads, the others wait; only the leader acts.

Written here rather than taken from kubernetes_asyncio.leaderelection, which has no
per-request timeout, no guard around the leading task, reads the wall clock, never releases
and never counts leaseTransitions. Timing follows client-go (lease 15 s, renew deadline 10 s,
retry 2 s) on the event loop's monotonic clock:

- A candidate reads the Lease every retry period, and at once when a watch says it changed.
  It takes the Lease when it is free (released, or unchanged for leaseDurationSeconds since
  this candidate first saw it so: dated by the answer to its read, not the request) with a PUT
  conditional on its resourceVersion; a 409 means another candidate won. Each acquisition sets
  leaseTransitions + 1: that number is the **epoch**, which every state write carries. When the
  state carries a higher epoch (the Lease was deleted and created again, counting from 1), the
  claim raises the Lease's leaseTransitions to the epoch it writes (`raise_epoch`), so the
  Lease and the state always name the same epoch.
- The leader renews every retry period. It acts only until *the start of its last successful
  renewal + renew deadline*, which comes before anyone else may take the Lease (at the earliest
  *that renewal + lease duration*). Every request is bounded by the time left before then.
- On a clean stop the leader releases the Lease (holder empty), so a candidate takes it at once.

The rules (who may take the Lease, when to read it again, how long a leader acts) are pure
functions in machine/lease.py, with the no-overlap argument as property tests; this module is
their I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Protocol

from failoverd.config import LeaderElectionConfig
from failoverd.kit.errors import ActionError, Conflict
from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.machine import LeaseSeen, acting_until, may_take, next_try, observe


class LeaseLost(Exception):
    """This process no longer holds the lease: whatever it was doing must stop now."""


class LeaseApi(Protocol):
    async def get(self, name: str, timeout: float) -> dict[str, Any] | None: ...
    async def create(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]: ...
    async def replace(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]: ...
    def watch(self, name: str, timeout: float) -> AsyncIterator[dict[str, Any]]: ...


def identity() -> str:
    """$POD_NAME (the downward API), else hostname-pid: two processes are two candidates."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _micro_time(wall: float) -> str:
    return datetime.datetime.fromtimestamp(wall, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Elector:
    def __init__(
        self,
        leases: LeaseApi,
        cfg: LeaderElectionConfig,
        me: str,
        *,
        metrics: Metrics,
        log: Logger,
        wall: Callable[[], float],
        on_elected: Callable[[int], Coroutine[Any, Any, None]],
        on_lost: Callable[[str], None],
    ) -> None:
        self.leases, self.cfg, self.me = leases, cfg, me
        self.metrics, self.log, self.wall = metrics, log.bind(lease=cfg.name, identity=me), wall
        self.on_elected, self.on_lost = on_elected, on_lost
        self.epoch: int | None = None
        self.leading = False
        self.lost = False  # it led, and lost the lease: it never writes it again
        self.acting_until = 0.0  # loop time: start of the last good renewal + renew deadline
        self.holder: str | None = None  # who holds the lease, as last read
        self.previous: str | None = None  # who held it before we took it, if it had expired
        self._lease: dict[str, Any] | None = None  # the lease as last read or written
        self._seen: LeaseSeen | None = None  # the lease as this candidate last read it, since when
        self._changed = asyncio.Event()
        self._renewed = asyncio.Event()
        self._writing = asyncio.Lock()  # one read-and-write of the Lease at a time
        self._elected: asyncio.Task[None] | None = None

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def time_left(self) -> float:
        """Seconds this leader may still act (0 when it does not lead)."""
        return max(0.0, self.acting_until - self.now()) if self.leading else 0.0

    # ----------------------------------------------------------------- the loop

    async def run(self) -> None:
        """Wait for the lease, lead until it is lost; returns only when it was lost."""
        watcher = asyncio.create_task(self._watch(), name="lease-watch")
        try:
            while not await self._try_acquire():
                self._changed.clear()
                # the next try: a retry period from now, or the moment the lease expires
                wait = next_try(self._seen, self.now(), self.cfg.retry_period)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        self.log.warning("leader_acquired", epoch=self.epoch)
        self.metrics.leader.set(1)
        assert self.epoch is not None
        self._elected = asyncio.create_task(self.on_elected(self.epoch), name="elected")
        try:
            await self._renew_loop()
        finally:
            self.leading = False
            self.metrics.leader.set(0)

    async def _renew_loop(self) -> None:
        while True:
            wait = min(self.cfg.retry_period, self.time_left())
            await asyncio.sleep(wait)
            sent = self.now()
            left = self.acting_until - sent
            if left <= 0:
                return self._lose("the lease could not be renewed within renew_deadline")
            try:
                async with self._writing:
                    lease = await self.leases.get(self.cfg.name, left)
                    if not self._ours(lease):
                        holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
                        return self._lose(f"the lease is held by {holder or 'nobody (deleted)'}")
                    self._lease = lease
                    await self._write(self._holding(renew=True), self.acting_until - self.now())
            except Conflict:
                return self._lose("another replica wrote the lease (409 on renewal)")
            except ActionError as e:
                self.log.warning(
                    "lease_renew_failed",
                    error=str(e),
                    acting_for=round(self.acting_until - self.now(), 2),
                )
                continue
            self.acting_until = acting_until(sent, self.cfg.renew_deadline)
            self._renewed.set()
            self._renewed = asyncio.Event()

    def _ours(self, lease: dict[str, Any] | None) -> bool:
        """The lease as read names this process and the epoch it acquired."""
        spec = (lease or {}).get("spec") or {}
        return (
            lease is not None
            and spec.get("holderIdentity") == self.me
            and int(spec.get("leaseTransitions") or 0) == self.epoch
        )

    def _lose(self, why: str) -> None:
        self.leading, self.lost = False, True
        self.metrics.leader.set(0)
        self.log.error("leader_lost", epoch=self.epoch, reason=why)
        self._renewed.set()  # wake whoever waits for a renewal: there will be none
        self.on_lost(why)

    # ----------------------------------------------------------------- acquiring

    async def _try_acquire(self) -> bool:
        sent = self.now()
        timeout = self.cfg.retry_period
        try:
            lease = await self.leases.get(self.cfg.name, timeout)
            answered = self.now()  # the server read it at some moment up to now: date it now
            if lease is None:
                self._lease = None
                await self._write(self._holding(renew=False), timeout, create=True)
            else:
                self._lease = lease
                spec = lease.get("spec") or {}
                holder = spec.get("holderIdentity") or ""
                self.holder = holder or None
                version = (holder, spec.get("renewTime"), lease["metadata"].get("resourceVersion"))
                duration = float(spec.get("leaseDurationSeconds") or self.cfg.lease_duration)
                self._seen = observe(self._seen, holder, version, duration, answered)
                self.previous = holder or None  # who held it (None: released or first)
                if not may_take(self._seen, self.me, answered):
                    return False
                await self._write(self._holding(renew=False), timeout)
        except Conflict:
            return False  # another candidate wrote first
        except ActionError as e:
            self.log.warning("lease_read_failed", error=str(e))
            return False
        self.leading = True
        self.acting_until = acting_until(sent, self.cfg.renew_deadline)
        return True

    def _holding(self, renew: bool) -> dict[str, Any]:
        """The lease as this process writes it: to acquire (epoch + 1) or to renew."""
        now = _micro_time(self.wall())
        old = (self._lease or {}).get("spec") or {}
        meta: dict[str, Any] = {"name": self.cfg.name}
        if self._lease is not None:
            meta["resourceVersion"] = self._lease["metadata"].get("resourceVersion")
        transitions = int(old.get("leaseTransitions") or 0) + (0 if renew else 1)
        spec = {
            "holderIdentity": self.me,
            # whole seconds, rounded up: rounded down, a candidate would take it early
            "leaseDurationSeconds": max(1, math.ceil(self.cfg.lease_duration)),
            "acquireTime": old.get("acquireTime") if renew else now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        if not renew:
            self.epoch = transitions
        return {"metadata": meta, "spec": spec}

    async def _write(self, lease: dict[str, Any], timeout: float, create: bool = False) -> None:
        if create:
            self._lease = await self.leases.create(lease, timeout)
        else:
            self._lease = await self.leases.replace(lease, timeout)
        self.holder = self.me

    async def raise_epoch(self, epoch: int) -> None:
        """Write `epoch` as the Lease's leaseTransitions: the state holds epochs up to just below
        it (machine.claim_epoch), so the Lease and the state name the same epoch.

        LeaseLost when the Lease is not ours any more (a 409: someone else wrote it); an
        ActionError when the write did not land (the claim tries again while the lease lasts).
        """
        async with self._writing:
            if not self.leading or self.epoch is None:
                raise LeaseLost(f"lease {self.cfg.name} lost")
            if epoch <= self.epoch:
                return
            body = self._holding(renew=True)
            body["spec"]["leaseTransitions"] = epoch
            try:
                await self._write(body, self.time_left())
            except Conflict:
                self._lose("another replica wrote the lease (409 while raising the epoch)")
                raise LeaseLost(f"lease {self.cfg.name} lost") from None
            except ActionError:
                # the write may have landed with its answer lost: the Lease says which
                lease = await self.leases.get(self.cfg.name, self.time_left())
                spec = (lease or {}).get("spec") or {}
                landed = spec.get("holderIdentity") == self.me and (
                    int(spec.get("leaseTransitions") or 0) == epoch
                )
                if not landed:
                    raise
                self._lease = lease
            self.log.warning(
                "epoch_raised",
                was=self.epoch,
                epoch=epoch,
                reason="the state carries a newer epoch than the Lease counts",
            )
            self.epoch = epoch

    # ----------------------------------------------------------------- watching and releasing

    async def _watch(self) -> None:
        """Wake the candidate as soon as the lease changes (a release is taken at once)."""
        while True:
            try:
                async for _ in self.leases.watch(self.cfg.name, 300.0):
                    self._changed.set()
            except (ActionError, ValueError) as e:
                self.log.debug("lease_watch_failed", error=str(e))
            await asyncio.sleep(self.cfg.retry_period)

    async def release(self) -> None:
        """Give the lease up (a clean stop), so a candidate takes it at once, not in 15 s.

        It reads the lease first: a renewal cancelled by the stop may have landed unseen.
        """
        if self.lost or self.epoch is None:
            return
        self.leading = False
        timeout = min(self.cfg.retry_period, 5.0)
        try:
            lease = await self.leases.get(self.cfg.name, timeout)
            if not self._ours(lease):
                return  # no longer ours: nothing to release
            self._lease = lease
            body = self._holding(renew=True)
            body["spec"] |= {"holderIdentity": "", "leaseDurationSeconds": 1}
            await self._write(body, timeout)
            self.log.info("leader_released", epoch=self.epoch)
        except ActionError as e:
            self.log.warning("leader_release_failed", error=str(e))
        finally:
            self.metrics.leader.set(0)

    async def wait_for(self, timeout: float) -> None:
        """Return when a step of `timeout` fits in what is left of the lease; LeaseLost if lost.

        A step whose timeout is longer than a fresh renewal gives waits for a fresh one (renew
        deadline - retry period left): it runs under continuous renewal and is cancelled if
        the lease is lost.
        """
        need = min(timeout, self.cfg.renew_deadline - self.cfg.retry_period)
        while self.time_left() < need:
            if not self.leading:
                raise LeaseLost(f"lease {self.cfg.name} lost")
            await self._renewed.wait()
        if not self.leading:
            raise LeaseLost(f"lease {self.cfg.name} lost")
