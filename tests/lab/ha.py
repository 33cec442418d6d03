"""Replicas in an arbiter cluster for the lab: one Lease, the state in ConfigMaps, N daemons.

The arbiter cluster is kmock's emulator with lab_kube's write semantics (resourceVersion, 409,
a write log with each writer's epoch). Each replica is a `failoverd run` process with its own
API port and POD_NAME, reaching the API server through its own BlackHole relay, so one
replica can lose the API server while the others keep it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import lab
from tests.lab import kube as lab_kube

QUICK_LEASE = {"lease_duration": "3s", "renew_deadline": "2s", "retry_period": "500ms"}


@dataclass
class Replica:
    name: str
    daemon: lab.Daemon
    hole: lab_kube.BlackHole


@dataclass
class Arbiter:
    cluster: lab_kube.Cluster
    replicas: list[Replica]

    def epochs(self) -> list[int]:
        """The epoch of every Lease and state write, in the order the API server took them."""
        return [w["epoch"] for w in self.cluster.writes]

    def overlaps(self) -> list[str]:
        """Writes made with an older epoch after a newer one had written ([] when none)."""
        out, newest = [], 0
        for w in self.cluster.writes:
            if w["epoch"] < newest:
                out.append(f"{w['verb']} {w['name']} with epoch {w['epoch']} after epoch {newest}")
            newest = max(newest, w["epoch"])
        return out

    def holder(self) -> str | None:
        with contextlib.suppress(KeyError):
            return str(self.cluster.lease()["spec"].get("holderIdentity") or "") or None
        return None

    def replica(self, name: str | None) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    async def lead_and_follow(self) -> tuple[lab.Daemon, lab.Daemon]:
        """Replica a started and leading, then b started and through its first round, following."""
        a, b = (r.daemon for r in self.replicas[:2])
        await a.start(wait_for="leading")
        await b.start()
        await b.wait_for("first_round")
        return a, b

    async def first(self, event: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """The first log line with this event from any running replica."""
        live = [r.daemon for r in self.replicas if r.daemon.proc and not r.daemon.exited]
        waits = [asyncio.create_task(d.wait_for(event, timeout=timeout, **fields)) for d in live]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return next(iter(done)).result()
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)


def ha_config(
    base: dict[str, Any], kubeconfig: Path, api_port: int, lease: dict[str, str]
) -> dict[str, Any]:
    """`base` (a one-replica config) as one replica of an arbiter Deployment."""
    cfg = {**base, "api": {**base["api"], "listen": f"{lab.LOOPBACK}:{api_port}"}}
    cfg["clusters"] = {
        **base.get("clusters", {}),
        "arbiter": {"kubeconfig": str(kubeconfig), "context": "arbiter"},
    }
    cfg["state"] = {
        "kubernetes": {"cluster": "arbiter", "namespace": "failoverd", "name": "failoverd-state"}
    }
    cfg["leader_election"] = {
        "cluster": "arbiter",
        "namespace": "failoverd",
        "name": "failoverd",
        **lease,
    }
    return cfg


@contextlib.asynccontextmanager
async def arbiter(
    tmp_path: Path,
    base: dict[str, Any],
    token: str,
    names: tuple[str, ...] = ("a", "b"),
    lease: dict[str, str] | None = None,
) -> AsyncIterator[Arbiter]:
    """An arbiter cluster and one (not yet started) daemon per name."""
    async with lab_kube.cluster("arbiter") as cluster, contextlib.AsyncExitStack() as stack:
        replicas = []
        for name in names:
            kubeconfig = tmp_path / f"kubeconfig-{name}"
            hole = await lab_kube.relay(stack, cluster, kubeconfig)
            port = lab.free_port()
            cfg = ha_config(base, kubeconfig, port, lease or QUICK_LEASE)
            path = lab.write_config(tmp_path / f"{name}.yaml", cfg)
            replicas.append(Replica(name, lab.Daemon(path, port, token, {"POD_NAME": name}), hole))
        try:
            yield Arbiter(cluster, replicas)
        finally:
            for r in replicas:
                await r.daemon.kill()
