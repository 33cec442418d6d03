"""Replication: the scheduler's cadence and accounting, the Kubernetes sync job, S3 snapshots."""

from __future__ import annotations

import asyncio

import kmock
import pytest
import structlog

from failoverd import config
from failoverd.clients.clusters import Clusters
from failoverd.kit.clock import LoopClock
from failoverd.kit.errors import PermanentError
from failoverd.kit.metrics import Metrics
from failoverd.machine import StartPlan
from failoverd.plans.runner import PlanRecord, Step
from failoverd.plans.steps import StepBook
from failoverd.replication.kubernetes import HASH_ANNOTATION, OWNER_LABEL, KubernetesSync
from failoverd.replication.objects import clean_object
from failoverd.replication.s3_snapshot import S3Snapshot
from failoverd.replication.scheduler import Scheduler
from failoverd.traffic import build
from tests.lab import aws as lab_aws
from tests.lab import kube as lab_kube


def scheduler(jobs, every="1s", timeout=None, clock=None, **kw) -> Scheduler:
    specs = {
        n: config.ReplicationJob(every=every, timeout=timeout, command={"argv": ["true"]})
        for n in jobs
    }
    return Scheduler(
        "web",
        specs,
        jobs,
        {},
        metrics=Metrics(),
        log=structlog.get_logger(),
        objective_rpo=kw.pop("rpo", None),
        clock=clock or LoopClock(epoch=0.0),
        **kw,
    )


@pytest.mark.looptime
async def test_a_slow_run_delays_the_next_and_never_overlaps():
    loop = asyncio.get_running_loop()
    starts, running = [], 0

    async def slow() -> str:
        nonlocal running
        running += 1
        assert running == 1, "two runs at once"
        starts.append(loop.time())
        await asyncio.sleep(2.5)
        running -= 1
        return "ok"

    sched = scheduler({"db": slow}, every="1s")
    task = asyncio.create_task(sched.run())
    await asyncio.sleep(10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    t0 = starts[0]
    assert [round(s - t0, 3) for s in starts] == [0.0, 3.0, 6.0, 9.0], (
        "missed ticks are skipped, phase kept"
    )


@pytest.mark.looptime
async def test_failures_and_timeouts_are_counted_and_rpo_is_the_oldest_success():
    loop = asyncio.get_running_loop()
    outcome = {"db": "ok", "files": "ok"}

    def job(name):
        async def run() -> str:
            if outcome[name] == "hang":
                await asyncio.sleep(100)
            if outcome[name] == "fail":
                raise RuntimeError(f"{name} broke")
            return "ok"

        return run

    sched = scheduler({"db": job("db"), "files": job("files")}, every="1s", timeout="2s", rpo=5.0)
    assert sched.rpo(loop.time()) == (None, {"db": None, "files": None})
    assert await sched.run_once("db") and await sched.run_once("files")
    t_ok = loop.time()
    await asyncio.sleep(4)
    outcome["db"] = "fail"
    assert not await sched.run_once("db")
    outcome["files"] = "hang"
    assert not await sched.run_once("files")  # times out after 2s
    rpo, ages = sched.rpo(loop.time())
    assert rpo == pytest.approx(loop.time() - t_ok) and ages["db"] == pytest.approx(6.0)
    st = sched.status()
    assert st["jobs"]["db"]["failures"] == 1 and st["jobs"]["db"]["last_error"] == "db broke"
    assert st["jobs"]["files"]["last_error"] == "timed out after 2s"
    assert st["warning"] == f"RPO {rpo}s exceeds the objective 5s"
    assert sched.metrics.replication_failures.labels("web", "db")._value.get() == 1


@pytest.mark.looptime
async def test_jobs_pause_while_traffic_is_not_on_the_primary():
    runs = []

    async def job() -> str:
        runs.append(1)
        return "ok"

    allowed = {"yes": False}
    sched = scheduler({"db": job}, may_run=lambda: allowed["yes"])
    task = asyncio.create_task(sched.run())
    await asyncio.sleep(5)
    assert runs == []
    allowed["yes"] = True
    await asyncio.sleep(3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(runs) == 3


@pytest.mark.looptime
async def test_halt_stops_a_run_in_flight_and_the_schedule_goes_on():
    started, finished = [], []

    async def long_sync() -> str:
        started.append(asyncio.get_running_loop().time())
        await asyncio.sleep(300)  # a 5-minute sync writing into the standby
        finished.append(True)
        return "done"

    sched = scheduler({"sync": long_sync}, every="10s", timeout="10m")
    task = asyncio.create_task(sched.run())
    await asyncio.sleep(1)
    assert len(started) == 1 and "sync" in sched.running
    await sched.halt()  # a plan is starting
    assert "sync" not in sched.running and not finished
    assert sched.state["sync"].last_success is None, "a halted run is not a success"
    await asyncio.sleep(10)
    assert len(started) == 2, "the schedule goes on after a halt"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class JumpingClock:
    """A wall clock an operator (or NTP) sets back an hour; the monotonic clock runs on."""

    def __init__(self) -> None:
        self.jump = 0.0

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return 1_700_000_000.0 + self.monotonic() - self.jump


@pytest.mark.looptime
async def test_rpo_ages_do_not_bend_when_the_wall_clock_jumps_back():
    async def ok() -> str:
        return "ok"

    clock = JumpingClock()
    sched = scheduler({"db": ok}, clock=clock)
    assert await sched.run_once("db")
    await asyncio.sleep(30)
    clock.jump = 3600.0
    rpo, ages = sched.rpo(clock.wall())
    assert rpo == pytest.approx(30.0) and ages["db"] == pytest.approx(30.0)


# --------------------------------------------------------------------------- Kubernetes sync


def put(cluster: lab_kube.Cluster, res: str, body: dict) -> None:
    meta = body["metadata"]
    cluster.emulator.objects[kmock.resource(res), meta["namespace"], meta["name"]] = body


def configmap(name: str, data: dict, labels: dict | None = None) -> dict:
    meta = {"name": name, "namespace": "default", **({"labels": labels} if labels else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def count_writes(cluster: lab_kube.Cluster) -> int:
    return sum(len(cluster.emulator[m]) for m in ("post", "put", "patch", "delete"))


@pytest.fixture
async def two_clusters(tmp_path):
    async with lab_kube.cluster("beijing") as bj, lab_kube.cluster("shanghai") as sh:
        path = lab_kube.write_kubeconfig(tmp_path / "kubeconfig", [bj, sh])
        clusters = Clusters(
            {
                c: config.ClusterConfig(kubeconfig=str(path), context=c)
                for c in ("beijing", "shanghai")
            }
        )
        yield bj, sh, clusters
        await clusters.close()


SERVER_META = {
    "uid": "0b7c",
    "resourceVersion": "981",
    "creationTimestamp": "2026-11-01T00:00:00Z",
    "managedFields": [{"manager": "kubectl"}],
}


def seed_source(bj: lab_kube.Cluster) -> None:
    bj.add_deployment("web", 3)
    put(
        bj,
        "v1/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": "default", **SERVER_META},
            "data": {"MODE": "primary"},
        },
    )
    put(bj, "v1/configmaps", configmap("kube-root-ca.crt", {"ca.crt": "x"}))
    put(
        bj,
        "v1/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "web-db", "namespace": "default"},
            "type": "Opaque",
            "data": {"password": "aHVudGVyMg=="},
        },
    )
    put(
        bj,
        "v1/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", **SERVER_META},
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.96.0.7",
                "clusterIPs": ["10.96.0.7"],
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}],
            },
            "status": {"loadBalancer": {}},
        },
    )


async def test_sync_copies_with_stripped_fields_deletes_only_owned_and_then_writes_nothing(
    two_clusters,
):
    bj, sh, clusters = two_clusters
    seed_source(bj)
    owned = {OWNER_LABEL: "beijing"}
    put(sh, "v1/configmaps", configmap("stale", {}, labels=owned))
    put(sh, "v1/configmaps", configmap("local-only", {"k": "v"}))
    job = KubernetesSync(
        config.KubernetesSyncJob(source="beijing", to="shanghai", namespaces=["default"]),
        clusters,
        zero_replicas=True,
    )

    note = await job()
    assert note == "4 created, 1 deleted"
    objects = {
        (k[0].plural, k[2]): sh.emulator.objects[k].raw
        for k in sh.emulator.objects
        if not sh.emulator.objects[k].deleted
    }
    assert set(objects) == {
        ("deployments", "web"),
        ("configmaps", "web-config"),
        ("secrets", "web-db"),
        ("services", "web"),
        ("configmaps", "local-only"),
    }
    dep = objects["deployments", "web"]
    assert dep["spec"]["replicas"] == 0 and "status" not in dep, "warm mode: the plan scales it"
    cm = objects["configmaps", "web-config"]
    # the target's API server gives the copy its own resourceVersion; the source's never travels
    assert cm["data"] == {"MODE": "primary"} and cm["metadata"].get("resourceVersion") != "981"
    assert not (set(SERVER_META) - {"resourceVersion"}) & set(cm["metadata"])
    assert (
        cm["metadata"]["labels"][OWNER_LABEL] == "beijing"
        and HASH_ANNOTATION in cm["metadata"]["annotations"]
    )
    svc = objects["services", "web"]
    assert (
        "clusterIP" not in svc["spec"] and "clusterIPs" not in svc["spec"] and "status" not in svc
    )
    assert svc["spec"]["ports"] == [{"port": 80, "targetPort": 8080}]
    assert objects["secrets", "web-db"]["data"] == {"password": "aHVudGVyMg=="}

    before = count_writes(sh)
    assert await job() == "4 unchanged"
    assert count_writes(sh) == before, "a second run with no change writes nothing"

    put(bj, "v1/configmaps", configmap("web-config", {"MODE": "changed"}))
    assert await job() == "1 updated, 3 unchanged"
    assert sh.emulator.objects[kmock.resource("v1/configmaps"), "default", "web-config"].raw[
        "data"
    ] == {"MODE": "changed"}


async def test_sync_never_overwrites_an_object_it_did_not_create(two_clusters):
    bj, sh, clusters = two_clusters
    put(bj, "v1/configmaps", configmap("shared", {"from": "bj"}))
    put(sh, "v1/configmaps", configmap("shared", {"from": "sh"}))
    job = KubernetesSync(
        config.KubernetesSyncJob(
            source="beijing", to="shanghai", namespaces=["default"], kinds=["ConfigMap"]
        ),
        clusters,
        zero_replicas=False,
    )
    assert await job() == "1 foreign"
    assert sh.emulator.objects[kmock.resource("v1/configmaps"), "default", "shared"].raw[
        "data"
    ] == {"from": "sh"}


@pytest.mark.parametrize("wipe", ["the whole source namespace", "most of it"])
async def test_a_sync_refuses_to_wipe_the_copies_when_the_source_looks_broken(two_clusters, wipe):
    bj, sh, clusters = two_clusters
    for i in range(4):
        put(bj, "v1/configmaps", configmap(f"cm-{i}", {"i": str(i)}))
    spec = config.KubernetesSyncJob(
        source="beijing", to="shanghai", namespaces=["default"], kinds=["ConfigMap"]
    )
    job = KubernetesSync(spec, clusters, zero_replicas=False)
    assert await job() == "4 created"
    keep = 0 if wipe == "the whole source namespace" else 1
    for i in range(keep, 4):
        del bj.emulator.objects[kmock.resource("v1/configmaps"), "default", f"cm-{i}"]
    writes = count_writes(sh)
    with pytest.raises(PermanentError, match="refusing to delete"):
        await job()
    assert count_writes(sh) == writes, "not one copy deleted"
    brave = KubernetesSync(spec.model_copy(update={"allow_mass_delete": True}), clusters, False)
    assert await brave() == f"{4 - keep} deleted" + (", 1 unchanged" if keep else "")


async def test_a_snapshot_of_nothing_is_refused_unless_allowed(two_clusters, mocked_aws):
    _, _, clusters = two_clusters  # beijing holds no objects at all
    lab_aws.aws("s3", None).create_bucket(Bucket="dr-snaps")
    spec = config.S3SnapshotJob(
        cluster="beijing",
        namespaces=["default"],
        bucket="dr-snaps",
        prefix="web/",
        kinds=["ConfigMap"],
    )
    with pytest.raises(PermanentError, match="refusing to write an empty snapshot"):
        await S3Snapshot(spec, clusters)()
    assert "Contents" not in lab_aws.aws("s3", None).list_objects_v2(Bucket="dr-snaps")
    note = await S3Snapshot(spec.model_copy(update={"allow_empty": True}), clusters)()
    assert note.startswith("0 objects to s3://dr-snaps/web/")


# --------------------------------------------------------------------------- S3 snapshots


async def test_a_snapshot_round_trip_through_s3_restores_the_same_objects(two_clusters, mocked_aws):
    bj, sh, clusters = two_clusters
    seed_source(bj)
    lab_aws.aws("s3", None).create_bucket(Bucket="dr-snaps")
    spec = config.S3SnapshotJob(
        cluster="beijing", namespaces=["default"], bucket="dr-snaps", prefix="web/", keep=3
    )
    note = await S3Snapshot(spec, clusters)()
    assert note.startswith("4 objects to s3://dr-snaps/web/")
    svc = config.ServiceConfig.model_validate(
        {
            "mode": "cold",
            "primary": "beijing",
            "standby": "shanghai",
            "probes": {
                "primary": [{"kubernetes": {"cluster": "beijing"}}],
                "standby": [{"kubernetes": {"cluster": "shanghai"}}],
            },
            "traffic": {
                "route53": {
                    "hosted_zone_id": "Z1",
                    "name": "w.example.test.",
                    "primary": ["192.0.2.1"],
                    "standby": ["192.0.2.2"],
                }
            },
            "prepare": {"restore": {"snapshot_job": "snap"}},
            "replication": {"snap": {"every": "5m", "s3_snapshot": spec.model_dump()}},
        }
    )
    book = StepBook("web", svc, build(svc.traffic), clusters, LoopClock(epoch=0.0))
    plan = PlanRecord.new(
        StartPlan("failover", "auto", "standby", "t", 0.0), book.steps_for("failover"), 0.0
    )
    await book.prepare(plan, Step("prepare"))

    def content(cluster):
        return {
            (k[0].plural, k[2]): {
                f: v for f, v in cluster.emulator.objects[k].raw.items() if f in ("data", "spec")
            }
            for k in cluster.emulator.objects
        }

    restored, source = content(sh), content(bj)
    source.pop(("configmaps", "kube-root-ca.crt"))
    source["services", "web"]["spec"] = clean_object(
        {"kind": "Service", "spec": source["services", "web"]["spec"]}
    )["spec"]
    assert restored == source


def test_a_listed_objects_null_fields_are_dropped_as_the_sdk_dropped_them():
    """So every copy's hash stays what it was before the client changed: no mass re-copy."""
    from failoverd.replication.objects import _without_nulls

    obj = {
        "metadata": {"name": "a", "creationTimestamp": None},
        "spec": {"template": {"metadata": {"creationTimestamp": None}, "x": [1, None]}},
    }
    assert _without_nulls(obj) == {
        "metadata": {"name": "a"},
        "spec": {"template": {"metadata": {}, "x": [1, None]}},
    }
