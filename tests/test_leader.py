"""The Lease loop and the state store against kmock's Kubernetes emulator.

The emulator lacks what a real API server does with writes (resourceVersion, 409 on a stale
one, PUT); tests/lab/kube.py adds that in front of it, so the code path is the one a cluster
takes. Each candidate reaches the API server through its own `BlackHole` relay, so one of them
can lose the API server while the other keeps it. Timings are short (lease 1.5 s, renew
deadline 1 s, retry 0.2 s) with client-go's ordering.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import kmock
import pytest
import structlog

from failoverd import config
from failoverd.clients.clusters import Clusters
from failoverd.clients.kube import Objects
from failoverd.ha.elector import Elector, LeaseLost
from failoverd.kit.metrics import Metrics
from failoverd.store import Deposed, ServiceRecord, StoreUnavailable
from failoverd.store.kubernetes import ConfigMapStore, configmap_name
from tests.lab import kube as lab_kube

LE = config.LeaderElectionConfig(
    cluster="arbiter",
    namespace="failoverd",
    name="failoverd",
    lease_duration="1500ms",
    renew_deadline="1s",
    retry_period="200ms",
)


@dataclass
class Candidate:
    name: str
    hole: lab_kube.BlackHole
    clusters: Clusters
    le: config.LeaderElectionConfig = LE
    elector: Elector = field(init=False)
    elected: asyncio.Event = field(default_factory=asyncio.Event)
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    elected_at: float = 0.0
    lost_at: float = 0.0
    task: asyncio.Task[None] | None = None

    def objects(self, api_version: str, kind: str, plural: str) -> Objects:
        return Objects(lambda: self.clusters.api("arbiter"), api_version, kind, plural, "failoverd")

    def __post_init__(self) -> None:
        leases = self.objects("coordination.k8s.io/v1", "Lease", "leases")
        self.elector = Elector(
            leases,
            self.le,
            self.name,
            metrics=Metrics(),
            log=structlog.get_logger(),
            wall=lambda: 1.7e9,
            on_elected=self._elected,
            on_lost=self._lost,
        )

    async def _elected(self, epoch: int) -> None:
        self.elected_at = asyncio.get_running_loop().time()
        self.elected.set()

    def _lost(self, why: str) -> None:
        self.lost_at = asyncio.get_running_loop().time()
        self.lost.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run())


@contextlib.asynccontextmanager
async def arbiter(
    tmp_path: Path, names: tuple[str, ...]
) -> AsyncIterator[tuple[lab_kube.Cluster, list[Candidate]]]:
    async with lab_kube.cluster("arbiter") as cluster, contextlib.AsyncExitStack() as stack:
        candidates = []
        for name in names:
            kubeconfig = tmp_path / f"kubeconfig-{name}"
            hole = await lab_kube.relay(stack, cluster, kubeconfig)
            clusters = Clusters({"arbiter": config.ClusterConfig(kubeconfig=str(kubeconfig))})
            candidates.append(Candidate(name, hole, clusters))
        try:
            yield cluster, candidates
        finally:
            for c in candidates:
                if c.task is not None:
                    c.task.cancel()
                    await asyncio.gather(c.task, return_exceptions=True)
                await c.clusters.close()


async def first(*events: asyncio.Event, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        waits = [asyncio.create_task(e.wait()) for e in events]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)


async def test_two_candidates_one_leader_and_a_release_is_taken_over_at_once(tmp_path):
    async with arbiter(tmp_path, ("a", "b")) as (cluster, (a, b)):
        a.start()
        await first(a.elected)
        b.start()
        assert a.elector.epoch == 1 and cluster.lease()["spec"]["holderIdentity"] == "a"
        # b keeps trying for more than a lease duration: a renews, so b never leads
        renewals = len([w for w in cluster.writes if w["holder"] == "a"])
        await cluster.wait_writes(renewals + 10, holder="a")
        assert not b.elected.is_set() and a.elector.leading
        assert cluster.lease()["spec"]["leaseTransitions"] == 1

        released = asyncio.get_running_loop().time()
        a.task.cancel()  # a clean stop: the loop ends, then the lease is released
        await asyncio.gather(a.task, return_exceptions=True)
        await a.elector.release()
        await first(b.elected)
        assert b.elected_at - released < LE.retry_period, "the watch wakes b: no poll to wait for"
        assert b.elector.epoch == 2 and cluster.lease()["spec"]["holderIdentity"] == "b"


async def test_a_leader_cut_from_the_api_server_stops_acting_before_anyone_else_leads(tmp_path):
    async with arbiter(tmp_path, ("a", "b")) as (cluster, (a, b)):
        a.start()
        await first(a.elected)
        b.start()
        await cluster.wait_writes(5)
        a.hole.hole = True  # a's requests go unanswered from now on
        cut = asyncio.get_running_loop().time()
        await first(b.elected)
        assert a.lost.is_set(), "a stopped acting before b was elected"
        assert a.lost_at < b.elected_at
        assert a.lost_at - cut <= LE.renew_deadline + 0.1, "a stops at last renewal + deadline"
        assert b.elected_at - cut <= LE.lease_duration + 2 * LE.retry_period + 0.2
        assert b.elector.epoch == 2
        epochs = [w["epoch"] for w in cluster.writes]
        assert epochs == sorted(epochs), f"a write with an old epoch after a newer one: {epochs}"
        with pytest.raises(LeaseLost):
            await a.elector.wait_for(0.1)


async def test_a_step_waits_for_a_fresh_renewal_when_its_timeout_does_not_fit(tmp_path):
    async with arbiter(tmp_path, ("a",)) as (_, (a,)):
        a.start()
        await first(a.elected)
        await a.elector.wait_for(60.0)  # capped: waits for a renewal that leaves 0.8 s or more
        assert a.elector.time_left() >= LE.renew_deadline - LE.retry_period


async def test_a_deposed_leaders_state_write_fails_and_says_so(tmp_path):
    async with arbiter(tmp_path, ("a", "b")) as (cluster, (a, b)):
        deposed: list[str] = []
        old = ConfigMapStore(
            a.objects("v1", "ConfigMap", "configmaps"),
            "failoverd-state",
            "a",
            on_deposed=deposed.append,
        )
        new = ConfigMapStore(b.objects("v1", "ConfigMap", "configmaps"), "failoverd-state", "b")
        rec = ServiceRecord()
        assert await old.open(["web"], epoch=1) == {"web": rec}
        await old.save("web", rec)
        claimed = await new.open(["web"], epoch=2)
        assert list(claimed) == ["web"]
        with pytest.raises(Deposed, match="epoch 2"):
            await old.save("web", rec)
        assert deposed and old.epoch is None
        cm = cluster.configmap(configmap_name("failoverd-state", "web"))
        assert cm is not None and cm["metadata"]["annotations"]["failoverd.io/epoch"] == "2"
        epochs = [w["epoch"] for w in cluster.writes]
        assert epochs == sorted(epochs)


async def test_a_candidate_dates_a_slow_read_by_its_answer_not_by_its_send(tmp_path):
    """b's read of the Lease waits 0.6 s at the API server, and a's renewal lands meanwhile: b
    must count the lease duration from when it saw that renewal (the answer), not from when it
    asked. The timings (lease 2 s, renew deadline 1.6 s, retry 0.8 s) are refused by the
    validation since (the margin is under a retry period); they show the stamp alone keeps a
    and b apart: dated by the send, b took the lease about 0.2 s before a stopped acting."""
    tight = config.LeaderElectionConfig.model_construct(
        **(LE.model_dump() | {"lease_duration": 2.0, "renew_deadline": 1.6, "retry_period": 0.8})
    )
    async with lab_kube.cluster("arbiter") as cluster:
        kubeconfig = lab_kube.write_kubeconfig(tmp_path / "kubeconfig", [cluster])
        clusters = Clusters({"arbiter": config.ClusterConfig(kubeconfig=str(kubeconfig))})
        b = Candidate("b", None, clusters, le=tight)  # type: ignore[arg-type]
        leases = b.objects("coordination.k8s.io/v1", "Lease", "leases")
        spec = {"holderIdentity": "a", "leaseDurationSeconds": 2, "leaseTransitions": 1}
        held = await leases.create({"metadata": {"name": "failoverd"}, "spec": spec}, 5.0)
        loop = asyncio.get_running_loop()
        renewed_at: list[float] = []

        async def a_renews_while_b_waits(plural: str, name: str) -> None:
            if plural != "leases" or renewed_at:
                return
            await asyncio.sleep(0.6)
            renewed_at.append(loop.time())  # a sent it now: a acts until now + renew deadline
            body = {
                "metadata": held["metadata"],
                "spec": spec | {"renewTime": "2024-01-01T00:00:01.000000Z"},
            }
            await leases.replace(body, 5.0)

        cluster.before_read = a_renews_while_b_waits
        try:
            b.start()
            await first(b.elected, timeout=10)
            a_acts_until = renewed_at[0] + tight.renew_deadline
            assert b.elected_at >= a_acts_until, (
                f"b took the lease {a_acts_until - b.elected_at:.3f}s before a stopped acting"
            )
        finally:
            assert b.task is not None
            b.task.cancel()
            await asyncio.gather(b.task, return_exceptions=True)
            await clusters.close()


async def test_a_lease_created_again_never_lowers_the_epoch_and_the_old_leader_stops(tmp_path):
    """a leads epoch 5 and writes the state; the Lease is deleted, and b creates it again: its
    leaseTransitions count from 1. b claims the state above the state's epoch (6), writes 6 into
    the Lease too (Lease and state agree), and a's next state write stops a."""
    async with arbiter(tmp_path, ("a", "b")) as (cluster, (a, b)):
        leases = a.objects("coordination.k8s.io/v1", "Lease", "leases")
        spec = {"holderIdentity": "", "leaseDurationSeconds": 1, "leaseTransitions": 4}
        await leases.create({"metadata": {"name": "failoverd"}, "spec": spec}, 5.0)
        a.start()
        await first(a.elected)
        assert a.elector.epoch == 5
        deposed: list[str] = []
        old = ConfigMapStore(
            a.objects("v1", "ConfigMap", "configmaps"),
            "failoverd-state",
            "a",
            on_deposed=deposed.append,
        )
        await old.open(["web"], epoch=5)
        await old.save("web", ServiceRecord())

        key = (kmock.resource("coordination.k8s.io/v1/leases"), "failoverd", "failoverd")
        cluster.emulator.objects[key].delete()
        b.start()
        await first(b.elected)
        new = ConfigMapStore(
            b.objects("v1", "ConfigMap", "configmaps"), "failoverd-state", "b", lease=b.elector
        )
        await new.open(["web"], epoch=b.elector.epoch)
        assert (new.epoch, b.elector.epoch) == (6, 6)
        assert cluster.lease()["spec"]["leaseTransitions"] == 6
        with pytest.raises(Deposed, match="epoch 6"):
            await old.save("web", ServiceRecord())
        assert deposed
        renewals = len([w for w in cluster.writes if w["holder"] == "b"])
        await cluster.wait_writes(renewals + 3, holder="b")
        assert b.elector.leading and cluster.lease()["spec"]["leaseTransitions"] == 6


async def test_a_state_write_never_outlasts_the_lease(tmp_path):
    """The API server stops answering a leader: its state write gives up when the lease's time
    runs out (at most the renew deadline, 1 s here), not after a fixed 10 s."""
    async with arbiter(tmp_path, ("a",)) as (_, (a,)):
        a.start()
        await first(a.elected)
        store = ConfigMapStore(
            a.objects("v1", "ConfigMap", "configmaps"), "failoverd-state", "a", lease=a.elector
        )
        await store.open(["web"], epoch=a.elector.epoch)
        a.hole.hole = True
        loop = asyncio.get_running_loop()
        started, until = loop.time(), a.elector.acting_until
        with pytest.raises(StoreUnavailable):
            await store.save("web", ServiceRecord())
        assert loop.time() <= until + 0.1, (
            f"the write outlasted the lease by {loop.time() - until:.2f}s"
        )
        assert loop.time() - started <= LE.renew_deadline + 0.1


@pytest.mark.parametrize(("lease", "advertised"), [(1.4, 2), (2.4, 3), (15.0, 15), (0.3, 1)])
def test_the_lease_never_advertises_less_than_the_holders_lease_duration(lease, advertised):
    """leaseDurationSeconds is whole seconds; rounded down, a candidate takes the lease early."""
    le = LE.model_copy(update={"lease_duration": lease})
    elector = Elector(
        None,  # type: ignore[arg-type]  # _holding only builds the body
        le,
        "a",
        metrics=Metrics(),
        log=structlog.get_logger(),
        wall=lambda: 1.7e9,
        on_elected=Candidate._elected,  # type: ignore[arg-type]
        on_lost=lambda why: None,
    )
    assert elector._holding(renew=False)["spec"]["leaseDurationSeconds"] == advertised


async def test_an_epoch_raise_whose_answer_is_lost_is_read_back_and_kept(tmp_path):
    """The Lease took the raised epoch but its answer was lost: the leader reads the Lease,
    sees its own write, and goes on leading at that epoch (it does not lose its own lease)."""
    async with arbiter(tmp_path, ("a",)) as (cluster, (a,)):
        a.start()
        await first(a.elected)
        cluster.lost_answers[("leases", "a")] = 1
        await a.elector.raise_epoch(5)
        assert a.elector.epoch == 5 and cluster.lease()["spec"]["leaseTransitions"] == 5
        renewals = len([w for w in cluster.writes if w["holder"] == "a"])
        await cluster.wait_writes(renewals + 2, holder="a")
        assert a.elector.leading and not a.lost.is_set()
