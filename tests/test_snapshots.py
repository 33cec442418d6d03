"""Cold mode's restore: the newest snapshot from S3 (moto), verified, applied to a cluster."""

from __future__ import annotations

import asyncio
import gzip
import json

import kmock
import pytest

from failoverd import config
from failoverd.clients.clusters import Clusters
from failoverd.kit.clock import LoopClock
from failoverd.kit.errors import PermanentError
from failoverd.machine import StartPlan
from failoverd.plans.runner import PlanRecord, Step
from failoverd.plans.steps import StepBook
from failoverd.replication import snapshots
from failoverd.traffic import build
from tests.lab import aws as lab_aws
from tests.lab import kube as lab_kube

OBJECTS = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "web-config",
            "namespace": "default",
            "uid": "u-1",
            "resourceVersion": "42",
        },
        "data": {"MODE": "dr"},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "web-db", "namespace": "default"},
        "type": "Opaque",
        "data": {"password": "aHVudGVyMg=="},
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "clusterIP": "10.0.0.7",
            "clusterIPs": ["10.0.0.7"],
            "type": "NodePort",
            "ports": [{"port": 80, "nodePort": 30080}],
            "selector": {"app": "web"},
        },
    },
]


@pytest.fixture
def s3(mocked_aws):
    lab_aws.aws("s3", None).create_bucket(Bucket="dr-snapshots")
    return config.S3SnapshotJob(
        cluster="beijing", namespaces=["default"], bucket="dr-snapshots", prefix="web/", keep=2
    )


async def write(job: config.S3SnapshotJob, objects: list, created: float) -> str:
    store = snapshots.SnapshotStore(job)
    sid = snapshots.new_id(created)
    data = snapshots.encode(
        objects,
        snapshot_id=sid,
        created=created,
        cluster="beijing",
        namespaces=["default"],
        kinds=["ConfigMap", "Secret", "Service"],
    )
    return await store.put(sid, data)


async def test_the_newest_snapshot_is_read_back_with_the_same_objects(s3):
    await write(s3, OBJECTS[:1], created=1_000_000.0)
    key = await write(s3, OBJECTS, created=2_000_000.0)
    snap, refused = await snapshots.SnapshotStore(s3).newest()
    assert snap.key == key and snap.objects == OBJECTS and refused == []
    head = lab_aws.aws("s3", None).head_object(Bucket="dr-snapshots", Key=key)
    assert head["ServerSideEncryption"] == "AES256"


async def test_a_tampered_object_fails_its_checksum_and_the_restore_refuses_it(s3):
    key = await write(s3, OBJECTS, created=1_000_000.0)
    s3c = lab_aws.aws("s3", None)
    doc = json.loads(gzip.decompress(s3c.get_object(Bucket="dr-snapshots", Key=key)["Body"].read()))
    doc["objects"][1]["data"]["password"] = "b3duZWQ="  # someone edits the bundle
    s3c.put_object(Bucket="dr-snapshots", Key=key, Body=gzip.compress(json.dumps(doc).encode()))
    with pytest.raises(PermanentError, match="checksum mismatch for Secret default/web-db"):
        await snapshots.SnapshotStore(s3).newest()


async def test_a_damaged_newest_snapshot_falls_back_to_the_next_good_one_and_says_so(s3):
    good = await write(s3, OBJECTS, created=1_000_000.0)
    bad = await write(s3, OBJECTS[:1], created=2_000_000.0)
    s3c = lab_aws.aws("s3", None)
    s3c.put_object(Bucket="dr-snapshots", Key=bad, Body=b"\x1f\x8b truncated")
    snap, refused = await snapshots.SnapshotStore(s3).newest()
    assert snap.key == good and snap.objects == OBJECTS
    assert len(refused) == 1 and bad in refused[0] and "unreadable" in refused[0]


async def test_only_this_jobs_folder_counts_not_a_sibling_or_a_deeper_folder(s3):
    mine = await write(s3, OBJECTS, created=1_000_000.0)
    s3c = lab_aws.aws("s3", None)
    for other in (
        "webapp/20990101T000000Z-abcdef.json.gz",
        "web/old/20990101T000000Z-abcdef.json.gz",
    ):
        s3c.put_object(Bucket="dr-snapshots", Key=other, Body=b"not ours")
    store = snapshots.SnapshotStore(s3)
    assert await store.keys() == [mine]
    for _ in range(3):
        await write(s3, OBJECTS[:1], created=1_000_100.0)
    await store.prune()
    left = {o["Key"] for o in s3c.list_objects_v2(Bucket="dr-snapshots")["Contents"]}
    assert {
        "webapp/20990101T000000Z-abcdef.json.gz",
        "web/old/20990101T000000Z-abcdef.json.gz",
    } <= left


async def test_a_snapshot_written_after_the_clock_jumped_back_is_still_the_newest(s3):
    await write(s3, OBJECTS[:1], created=2_000_000.0)
    # S3 lists LastModified to the second: let its clock tick over (there is nothing to await)
    await asyncio.sleep(1.05)
    later = await write(s3, OBJECTS, created=1_000_000.0)  # the host's clock went back
    snap, _ = await snapshots.SnapshotStore(s3).newest()
    assert snap.key == later


async def test_no_snapshot_or_a_truncated_one_is_refused(s3):
    with pytest.raises(PermanentError, match="no snapshot under s3://dr-snapshots/web/"):
        await snapshots.SnapshotStore(s3).newest()
    key = await write(s3, OBJECTS, created=1_000_000.0)
    s3c = lab_aws.aws("s3", None)
    data = s3c.get_object(Bucket="dr-snapshots", Key=key)["Body"].read()
    s3c.put_object(Bucket="dr-snapshots", Key=key, Body=data[: len(data) // 2])
    with pytest.raises(PermanentError, match=r"no snapshot verifies: .*unreadable"):
        await snapshots.SnapshotStore(s3).newest()


async def test_prune_keeps_the_newest(s3):
    keys = [await write(s3, OBJECTS[:1], created=1_000_000.0 + i * 60) for i in range(4)]
    deleted = await snapshots.SnapshotStore(s3).prune()
    assert sorted(deleted) == sorted(keys[:2])
    assert await snapshots.SnapshotStore(s3).keys() == sorted(keys[2:], reverse=True)


async def test_cold_prepare_restores_the_snapshot_into_the_standby_cluster(s3, tmp_path):
    await write(s3, OBJECTS, created=1_000_000.0)
    async with lab_kube.cluster("shanghai") as sh:
        kubeconfig = lab_kube.write_kubeconfig(tmp_path / "kubeconfig", [sh])
        cfg = config.parse(lab_kube.cold_web_config(kubeconfig))
        svc = cfg.services["web"]
        clusters = Clusters(cfg.clusters)
        book = StepBook("web", svc, build(svc.traffic), clusters, LoopClock(epoch=0.0))
        assert [s.name for s in book.steps_for("failover")] == ["prepare", "switch", "verify"]
        plan = PlanRecord.new(
            StartPlan("failover", "auto", "standby", "test", 0.0), book.steps_for("failover"), 0.0
        )
        step = Step("prepare")
        await book.prepare(plan, step)
        await book.prepare(plan, step)  # a resumed plan runs it again: same result
        await clusters.close()
        cm = sh.emulator.objects[kmock.resource("v1/configmaps"), "default", "web-config"].raw
        assert cm["data"] == {"MODE": "dr"} and "uid" not in cm["metadata"]
        svc_obj = sh.emulator.objects[kmock.resource("v1/services"), "default", "web"].raw
        assert "clusterIP" not in svc_obj["spec"] and "nodePort" not in svc_obj["spec"]["ports"][0]
        assert step.output.startswith("restored 3 objects from web/")
