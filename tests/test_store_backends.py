"""One suite for both state backends: the bastion's files and the arbiter cluster's ConfigMaps.

Each test runs twice, once per backend, through the one interface the daemon uses
(store.base.StateStore): what one process saved, the next one reads back; the outbox and the
audit trail survive; and a second writer never writes beside the first (the file is locked;
the ConfigMaps are fenced by the lease epoch). The ConfigMaps live in kmock's emulator, with
the resourceVersion checks a real API server makes added in front of it (tests/lab/kube.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from failoverd import config
from failoverd.clients.clusters import Clusters
from failoverd.clients.kube import Objects
from failoverd.machine import ServiceState, State
from failoverd.store import (
    Deposed,
    Event,
    FileStore,
    ServiceRecord,
    StateStore,
    StoreError,
    codec,
)
from failoverd.store.kubernetes import MAX_BYTES, ConfigMapStore, configmap_name
from tests.lab import kube as lab_kube
from tests.lab.fakes import a_plan


@contextlib.asynccontextmanager
async def file_backend(tmp_path: Path) -> AsyncIterator[Callable[[], StateStore]]:
    yield lambda: FileStore(tmp_path / "state.json")


@contextlib.asynccontextmanager
async def configmap_backend(tmp_path: Path) -> AsyncIterator[Callable[[], StateStore]]:
    async with lab_kube.cluster("arbiter") as cluster:
        kubeconfig = lab_kube.write_kubeconfig(tmp_path / "kubeconfig", [cluster])
        clusters = Clusters({"arbiter": config.ClusterConfig(kubeconfig=str(kubeconfig))})
        n = iter(range(1, 100))

        def make() -> StateStore:
            objects = Objects(
                lambda: clusters.api("arbiter"), "v1", "ConfigMap", "configmaps", "failoverd"
            )
            return ConfigMapStore(objects, "failoverd-state", f"replica-{next(n)}")

        try:
            yield make
        finally:
            await clusters.close()


BACKENDS = {"file": file_backend, "configmaps": configmap_backend}


@pytest.fixture(params=list(BACKENDS))
async def backend(request, tmp_path) -> AsyncIterator[tuple[str, Callable[[], StateStore]]]:
    async with BACKENDS[request.param](tmp_path) as make:
        yield request.param, make


def a_record() -> ServiceRecord:
    rec = ServiceRecord(machine=ServiceState(state=State.FAILING_OVER, active="primary"))
    rec.plan = a_plan("p1")
    rec.plan.steps[0].status = "done"
    for n in range(3):
        rec.add_event(Event(float(n), "web", "primary_active", "primary_suspect", "primary", "x"))
    return rec


async def test_what_one_process_saved_the_next_reads_back(backend):
    _, make = backend
    first = make()
    fresh = await first.open(["web", "db"], epoch=1)
    assert all(r == ServiceRecord() for r in fresh.values())
    rec = a_record()
    await first.save("web", rec)
    await first.close()
    second = make()
    records = await second.open(["web", "db"], epoch=2)
    assert records["web"].plan == rec.plan and records["web"].history == rec.history
    assert records["web"].machine.state == State.FAILING_OVER
    assert records.get("db", ServiceRecord()).plan is None
    await second.close()


async def test_the_outbox_and_the_audit_survive_a_restart(backend):
    _, make = backend
    first = make()
    await first.open(["web"], epoch=1)
    entries = [
        {"notice": {"id": str(n), "event": "failover_started"}, "sinks": ["hook"]} for n in range(3)
    ]
    await first.save_outbox(entries)
    assert await first.load_audit() == []
    for n in range(3):
        await first.append_audit(json.dumps({"n": n}))
    await first.close()
    second = make()
    await second.open(["web"], epoch=2)
    assert await second.load_outbox() == entries
    assert [json.loads(x)["n"] for x in await second.load_audit()] == [0, 1, 2]
    await second.close()


async def test_a_second_writer_never_writes_beside_the_first(backend):
    kind, make = backend
    first = make()
    await first.open(["web"], epoch=1)
    await first.save("web", a_record())
    second = make()
    if kind == "file":  # the bastion: the lock refuses the second daemon outright
        with pytest.raises(StoreError, match="another failoverd"):
            await second.open(["web"], epoch=2)
        await first.save("web", a_record())
    else:  # the arbiter: the newer epoch claims the state, the older writer is deposed
        await second.open(["web"], epoch=2)
        with pytest.raises(Deposed):
            await first.save("web", a_record())
        await second.save("web", a_record())
    await first.close()
    await second.close()


async def test_a_configmap_never_nears_the_size_limit(tmp_path):
    async with configmap_backend(tmp_path) as make:
        store = make()
        await store.open(["web"], epoch=1)
        huge = [
            {"notice": {"id": str(n), "message": "x" * 2000}, "sinks": ["hook"]}
            for n in range(1000)
        ]
        await store.save_outbox(huge)  # 2 MB asked: the oldest events give way
        kept = await store.load_outbox()
        assert 0 < len(kept) < 1000 and kept[-1] == huge[-1]
        assert len(json.dumps({"schema": 3, "events": kept})) <= MAX_BYTES


@contextlib.asynccontextmanager
async def two_replicas(
    tmp_path: Path,
) -> AsyncIterator[tuple[lab_kube.Cluster, ConfigMapStore, ConfigMapStore, list[str]]]:
    """The arbiter cluster and the state stores of replicas a (the old leader) and b; what
    deposed a, as a was told."""
    async with lab_kube.cluster("arbiter") as cluster:
        kubeconfig = lab_kube.write_kubeconfig(tmp_path / "kubeconfig", [cluster])
        clusters = Clusters({"arbiter": config.ClusterConfig(kubeconfig=str(kubeconfig))})
        deposed: list[str] = []

        def store(me: str) -> ConfigMapStore:
            objects = Objects(
                lambda: clusters.api("arbiter"), "v1", "ConfigMap", "configmaps", "failoverd"
            )
            return ConfigMapStore(objects, "failoverd-state", me, on_deposed=deposed.append)

        try:
            yield cluster, store("a"), store("b"), deposed
        finally:
            await clusters.close()


def stored(cluster: lab_kube.Cluster, service: str = "web") -> tuple[str, ServiceRecord]:
    """(the epoch annotation, the record) of a service's ConfigMap as the API server has it."""
    cm = cluster.configmap(configmap_name("failoverd-state", service))
    assert cm is not None
    _, record = codec.decode_service(json.loads(cm["data"]["record.json"]))
    return cm["metadata"]["annotations"]["failoverd.io/epoch"], record


async def test_a_takeover_racing_the_old_leaders_last_write_resumes_from_that_write(tmp_path):
    """a journals "verify pending"; b loads that, and as b claims, a's "verify done" lands first
    (b's PUT meets a 409). b claims the object as it now is: it resumes from "verify done",
    never writes its stale copy over it; a's next write finds b's epoch and stops."""
    async with two_replicas(tmp_path) as (cluster, a, b, deposed):
        await a.open(["web"], epoch=1)
        running = a_record()
        await a.save("web", running)
        done = a_record()
        assert done.plan is not None
        done.plan.steps[1].status = "done"
        cluster.racing_puts[("configmaps", "b")] = lambda: a.save("web", done)
        records = await b.open(["web"], epoch=2)
        assert records["web"].plan == done.plan, "b resumes from a's last journal write"
        assert stored(cluster) == ("2", records["web"])
        with pytest.raises(Deposed, match="epoch 2"):
            await a.save("web", running)
        assert deposed and stored(cluster)[1].plan == done.plan


async def test_a_leader_whose_409_shows_any_other_epoch_stops_even_a_lower_one(tmp_path):
    """The Lease was deleted and created again: b's epoch restarts low (1) while a led epoch 5.
    a's next write meets b's claim: a stops, it never writes over b's state."""
    async with two_replicas(tmp_path) as (cluster, a, b, deposed):
        await a.open(["web"], epoch=5)
        await a.save("web", a_record())
        await b.open(["web"], epoch=1)
        with pytest.raises(Deposed):
            await a.save("web", ServiceRecord())
        assert deposed and a.epoch is None
        assert stored(cluster)[1].plan == a_record().plan


async def test_a_claim_creates_the_outbox_and_the_audit_so_a_deposed_leader_cannot(tmp_path):
    """With no outbox yet, a's late create would land and then depose the new leader b."""
    async with two_replicas(tmp_path) as (cluster, a, b, deposed):
        await a.open(["web"], epoch=1)
        await b.open(["web"], epoch=2)
        for extra in ("failoverd-state-outbox", "failoverd-state-audit"):
            obj = cluster.configmap(extra)
            assert obj is not None, f"{extra} was not claimed"
            assert obj["metadata"]["annotations"]["failoverd.io/epoch"] == "2"
        with pytest.raises(Deposed):
            await a.save_outbox([])
        assert deposed
        await b.save_outbox([])  # the new leader goes on
        assert await b.load_outbox() == [] and await b.load_audit() == []
