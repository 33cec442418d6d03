"""A cold readiness drill restores the newest snapshot into the standby, then deletes it again."""

from __future__ import annotations

import asyncio
import time

import kmock
import pytest
import structlog

from failoverd import config
from failoverd.clients.clusters import Clusters
from failoverd.drill import DrillDesk, DrillRunner
from failoverd.kit.clock import SYSTEM
from failoverd.kit.metrics import Metrics
from failoverd.machine import ServiceState
from failoverd.notify import Notifier
from failoverd.plans.steps import StepBook
from failoverd.replication import snapshots
from failoverd.runtime.service import ServiceRunner
from failoverd.store.audit import AuditLog
from failoverd.store.persist import ServicePersistence
from failoverd.store.records import DrillRecord, ServiceRecord
from tests.lab import aws as lab_aws
from tests.lab import kube as lab_kube
from tests.lab.fakes import KeptAudit, MemoryStore, MemorySwitch, a_plan

OBJECTS = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": "default"},
        "data": {"MODE": "dr"},
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "already-there", "namespace": "default"},
        "data": {"from": "snapshot"},
    },
]


class DrillSwitch(MemorySwitch):
    async def drill_check(self, token: str) -> str:
        return f"drill record {token} written, read back and deleted"


def drill_runner(name: str, svc, clusters: Clusters, record: ServiceRecord, store) -> ServiceRunner:
    """A service's runner as the drill tests need it: no probes, the drill switch, a store."""
    switch = DrillSwitch()
    metrics, log = Metrics(), structlog.get_logger()
    return ServiceRunner(
        name,
        svc,
        record,
        {"primary": [], "standby": []},
        switch,
        StepBook(name, svc, switch, clusters),
        metrics=metrics,
        log=log,
        persistence=ServicePersistence(name, record, store, metrics, log),
    )


@pytest.fixture
def aws_env(mocked_aws):
    lab_aws.aws("s3", None).create_bucket(Bucket="dr-snapshots")


async def test_a_cold_readiness_drill_restores_into_the_standby_and_deletes_what_it_created(
    aws_env, tmp_path
):
    async with lab_kube.cluster("shanghai") as sh:
        sh.emulator.objects[kmock.resource("v1/configmaps"), "default", "already-there"] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "data": {"from": "standby"},
            "metadata": {"name": "already-there", "namespace": "default"},
        }
        kubeconfig = lab_kube.write_kubeconfig(tmp_path / "kubeconfig", [sh])
        cfg = config.parse(lab_kube.cold_web_config(kubeconfig))
        svc = cfg.services["web"]
        job = svc.replication["snapshots"].s3_snapshot
        sid = snapshots.new_id(1_000_000.0)
        await snapshots.SnapshotStore(job).put(
            sid,
            snapshots.encode(
                OBJECTS,
                snapshot_id=sid,
                created=1_000_000.0,
                cluster="beijing",
                namespaces=["default"],
                kinds=["ConfigMap"],
            ),
        )
        clusters = Clusters(cfg.clusters)
        record = ServiceRecord()
        ready = {"primary": 9, "standby": 9}
        record.machine = ServiceState(oks=ready)
        store = MemoryStore()
        runner = drill_runner("web", svc, clusters, record, store)
        done = []
        drills = DrillRunner(runner, done.append)
        drills.start("readiness", "test", 0.0)
        assert drills.task is not None
        await drills.task
        await clusters.close()
        configmaps = {
            k[2]: o for k, o in sh.emulator.objects.items() if k[0].plural == "configmaps"
        }
    (d,) = done
    checks = {c.name: c for c in d.checks}
    restore = checks["restore the newest snapshot into the standby"]
    assert restore.ok and "(1 created)" in restore.detail, restore.detail
    assert checks["undo prepare"].ok and d.undo == []
    assert d.outcome == "passed", (d.error, [(c.name, c.ok, c.detail) for c in d.checks])
    assert configmaps["web-config"].deleted, "what the drill created is gone again"
    assert configmaps["already-there"].raw["data"] == {"from": "standby"}, "untouched"


async def test_a_leader_that_loses_its_lease_abandons_its_drill_and_puts_nothing_back(tmp_path):
    """A deposed leader no longer writes anything: its drill stops, the new leader undoes it."""
    async with lab_kube.warm_regions(tmp_path) as (_, sh, kubeconfig):
        cfg = config.parse(lab_kube.warm_web_config(kubeconfig))
        svc, clusters = cfg.services["webapp"], Clusters(cfg.clusters)
        record = ServiceRecord()
        record.machine = ServiceState(oks={"primary": 9, "standby": 9})
        metrics, log, store = Metrics(), structlog.get_logger(), MemoryStore()
        runner = drill_runner("webapp", svc, clusters, record, store)
        audit = AuditLog(KeptAudit(), log, time.time)
        desk = DrillDesk(metrics, Notifier([], store, metrics, log), audit, SYSTEM, log)
        sh.pods_held = True  # the drill waits in its scale-up
        desk.start(runner, "webapp", "readiness", "test", 0.0)
        drills = desk.drills["webapp"]
        async with asyncio.timeout(10):  # the scale-up landed; the drill waits for its pods
            await sh.pods_wanted.wait()
        assert sh.replicas("webapp")[0] == 3
        desk.abandon()  # what the daemon does when the lease is lost
        assert drills.task is not None
        with pytest.raises(asyncio.CancelledError):
            await drills.task
        sh.pods_held = False
        await clusters.close()
        assert sh.replicas("webapp")[0] == 3, "nothing was put back by the deposed leader"
        assert record.drill is not None and record.drill.undo, "the journal is left to the next"
        assert record.drill.undo[0].replicas == 0 and record.drills == []


async def test_a_drill_that_gives_way_before_its_first_step_is_still_booked_interrupted(tmp_path):
    """A plan starting in the same instant as the drill: the drill never ran, yet it ends
    (interrupted, in the record's drills), or no drill could start again until a restart."""
    async with lab_kube.warm_regions(tmp_path) as (_, sh, kubeconfig):
        cfg = config.parse(lab_kube.warm_web_config(kubeconfig))
        svc, clusters = cfg.services["webapp"], Clusters(cfg.clusters)
        record = ServiceRecord()
        store = MemoryStore()
        runner = drill_runner("webapp", svc, clusters, record, store)
        done: list[DrillRecord] = []
        drills = DrillRunner(runner, done.append)
        drills.start("readiness", "test", 0.0)
        await drills.give_way(a_plan("p1"))  # before the drill's task ever ran
        await clusters.close()
    assert record.drill is None and [d.outcome for d in record.drills] == ["interrupted"]
    assert done and "gave way" in (done[0].error or "")
    assert sh.replicas("webapp")[0] == 0, "nothing was touched"
