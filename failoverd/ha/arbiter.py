"""Several replicas in the arbiter cluster, one acting: the lease, the state, and who acts when.

Every replica probes and serves the API; until it holds the lease it is a follower (the daemon
runs observe-only loops and writes nothing). When the Elector wins the lease, `Arbiter` stops
the follower's loops, claims the state ConfigMaps with the new epoch and has the daemon take
charge (resume a journaled plan, adopt, act). When the lease is lost, or a state write meets a
newer epoch, it has the daemon stop acting at once (plans cancelled mid-step: every step is
idempotent and the next leader re-runs it) and exit 1, so Kubernetes restarts it as a follower.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import tenacity

from failoverd import config
from failoverd.clients.clusters import Clusters
from failoverd.ha.elector import Elector
from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.kit.tasks import TaskGuard
from failoverd.notify import Emit
from failoverd.store import Deposed, ServiceRecord, StoreUnavailable
from failoverd.store.kubernetes import AccessDenied, ConfigMapStore


class Arbiter:
    def __init__(
        self,
        cfg: config.Config,
        clusters: Callable[[], Clusters],
        me: str,
        *,
        metrics: Metrics,
        log: Logger,
        wall: Callable[[], float],
        stop_following: Callable[[], Awaitable[None]],
        take_charge: Callable[[dict[str, ServiceRecord]], Awaitable[None]],
        stop_acting: Callable[[str], None],
        notify: Emit,
        lock: asyncio.Lock,
        guard: TaskGuard | None = None,
    ) -> None:
        from failoverd.clients.kube import Objects  # only an arbiter deployment loads the SDK

        le, st = cfg.leader_election, cfg.state.kubernetes
        assert le is not None and st is not None
        self.services = list(cfg.services)
        self.me, self.log, self.metrics, self.notify = me, log, metrics, notify
        self.guard = guard or TaskGuard(metrics, log)
        self.lock = lock  # the daemon's reload lock: a reload and a takeover never interleave
        self._stop_following, self._take_charge, self._stop_acting = (
            stop_following,
            take_charge,
            stop_acting,
        )

        def api(cluster: str) -> Callable[[], Awaitable[Any]]:
            return lambda: clusters().api(cluster)

        leases = Objects(api(le.cluster), "coordination.k8s.io/v1", "Lease", "leases", le.namespace)
        self.elector = Elector(
            leases,
            le,
            me,
            metrics=metrics,
            log=log,
            wall=wall,
            on_elected=self._elected,
            on_lost=self.lost,
        )
        configmaps = Objects(api(st.cluster), "v1", "ConfigMap", "configmaps", st.namespace)
        # state writes are bounded by the lease's time left, and a claim may raise its epoch
        self.store = ConfigMapStore(
            configmaps, st.name, me, on_deposed=self.lost, lease=self.elector
        )
        self.following = True  # until the lease is ours, the state claimed and taken charge of
        self.electing = False  # taking over: the follower's reads stop (they would reset the
        # resourceVersions the new leader's conditional writes carry)
        self.lost_why: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.follower: asyncio.Task[None] | None = None
        self.seen: dict[str, ServiceRecord] = {}  # the leader's records, as a follower last read
        self.seen_at: float | None = None
        self._checked = False  # the first read (start-up) has been made: RBAC was checked
        self.wall = wall

    @property
    def leading(self) -> bool:
        return self.elector.leading and not self.following and self.lost_why is None

    def status(self) -> dict[str, Any]:
        return {
            "identity": self.me,
            "holder": self.elector.holder,
            "epoch": self.elector.epoch if self.leading else None,
        }

    async def peek(self) -> dict[str, ServiceRecord]:
        """A follower's read of the state the leader writes (what it had, if it cannot read).

        The first read is the start-up check of RBAC: a ConfigMap the Role does not let
        failoverd read stops the daemon (exit 2, naming it), rather than failing a takeover
        later."""
        try:
            records = await self.store.load(self.services)
        except AccessDenied as e:
            if not self._checked:
                raise
            # refused since start-up (the Role was edited): say so loudly, keep what it had
            self.log.error("state_read_refused", error=str(e), kept=self.seen_at)
            return self.seen
        except Exception as e:
            self.log.warning("state_read_failed", error=str(e), kept=self.seen_at)
            return self.seen
        finally:
            self._checked = True
        for name, rec in records.items():
            was = self.seen.get(name)
            st = rec.machine
            if was is None or (was.machine.state, was.machine.active) != (st.state, st.active):
                self.log.info("leader_state", service=name, state=st.state.value, active=st.active)
        self.seen, self.seen_at = records, self.wall()
        return records

    def follow_every(self) -> float:
        """How often a follower re-reads the state: 5 retry periods, at most 20 reads a second."""
        return max(5 * self.elector.cfg.retry_period, len(self.services) / 20)

    async def _follow(self) -> None:
        """While following, keep the leader's view of every service fresh for /v1/status."""
        while self.following and self.lost_why is None:
            await asyncio.sleep(self.follow_every())
            if self.following and not self.electing:
                await self.peek()

    def start(self) -> None:
        self.task = self.guard.spawn(self.elector.run(), "lease")
        self.task.add_done_callback(self._ended)
        self.follower = self.guard.spawn(self._follow(), "follow")

    async def stop(self) -> None:
        """A clean stop: the lease loop ends and the lease is released (taken over at once)."""
        for task in (self.task, self.follower):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.lost_why is None:
            await self.elector.release()

    async def _elected(self, epoch: int) -> None:
        """Stop following, claim the state with our epoch, resume what the last leader left."""
        self.electing = True
        try:
            async with self.lock:
                await self._stop_following()
                records = await self._claim(epoch)
                epoch = self.store.epoch or epoch  # raised above the state's, if it had to be
                await self._take_charge(records)
                # only now does the API accept commands: not while adopt and a crashed drill's
                # undo (cut_short) run, which a manual failover could otherwise race
                self.following = False
            self.log.warning("leading", epoch=epoch, services=len(self.services))
            self._tell(epoch)
        except Exception as e:
            self.log.exception("lead_failed", error=str(e))
            if self.lost_why is None and not isinstance(e, Deposed):
                await self.stop()  # the lease is still ours: release it, another may do better
            self.lost(f"could not take charge: {e}")

    async def _claim(self, epoch: int) -> dict[str, ServiceRecord]:
        """Claim the state, trying again what did not land while the lease is ours (for at most a
        lease duration): one failed write of thousands, on an API server that is struggling
        too, must not cost a takeover (exit, the lease's expiry, a restart)."""

        def again(e: BaseException) -> bool:
            return (
                isinstance(e, StoreUnavailable)
                and not isinstance(e, Deposed)
                and (self.lost_why is None)
            )

        def told(rs: tenacity.RetryCallState) -> None:
            error = rs.outcome.exception() if rs.outcome else None
            self.log.warning(
                "claim_retry", epoch=epoch, attempt=rs.attempt_number, error=str(error)
            )

        le = self.elector.cfg
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(again),
            wait=tenacity.wait_exponential_jitter(initial=0.1, max=le.retry_period),
            stop=tenacity.stop_after_delay(le.lease_duration),
            before_sleep=told,
            reraise=True,
        )

        async def claim() -> dict[str, ServiceRecord]:
            # each try with the lease's epoch as it now is (a try may have raised it)
            return await self.store.open(self.services, self.elector.epoch or epoch)

        records: dict[str, ServiceRecord] = await retrying(claim)
        for name in self.store.claimed_as_found:
            self.log.warning(
                "claimed_as_found",
                configmap=name,
                epoch=self.store.epoch,
                reason="the last leader wrote it after it was read: resuming from that write",
            )
        return records

    def _tell(self, epoch: int) -> None:
        """leader_acquired; and leader_lost for a predecessor whose lease expired (not released)."""
        previous = self.elector.previous
        details = {"identity": self.me, "epoch": epoch, "previous": previous}
        if previous is not None and previous != self.me:
            self.notify(
                "leader_lost",
                "failoverd",
                f"replica {previous} stopped renewing the "
                f"lease; {self.me} took over (epoch {epoch})",
                details,
            )
        self.notify(
            "leader_acquired", "failoverd", f"replica {self.me} leads (epoch {epoch})", details
        )

    def lost(self, why: str) -> None:
        """The lease (or the state) is someone else's now: nothing more is written or done."""
        if self.lost_why is not None:
            return
        self.lost_why = why
        self.store.epoch = None
        self.metrics.leader.set(0)
        self._stop_acting(why)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The lease loop only ends when the lease is lost; if it crashed (the guard logged and
        counted it), stop acting too."""
        if task.cancelled():
            return
        error = task.exception()
        self.lost(f"the lease loop ended ({error!r})" if error else "the lease was lost")
