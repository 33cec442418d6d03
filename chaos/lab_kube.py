"""Kubernetes in the lab: kmock's KubernetesEmulator as a cluster on 127.0.0.1.

The emulator is a real HTTP Kubernetes API (the real kubernetes-asyncio client talks to it),
but it lacks the PUT (replace) verb, which `cluster()` adds, and it runs no controllers: nothing turns spec.replicas into ready pods. `ReplicaController`
plays the Deployment/StatefulSet controller: after `delay` it sets status.readyReplicas to
spec.replicas, so a prepare step really waits for readiness the way it would on a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml

RESOURCES = (
    "apps/v1/deployments",
    "apps/v1/statefulsets",
    "v1/configmaps",
    "v1/secrets",
    "v1/services",
)


@dataclass
class Cluster:
    name: str
    emulator: Any
    url: str

    def deployment(self, name: str, namespace: str = "default") -> dict[str, Any]:
        key = (kmock.resource("apps/v1/deployments"), namespace, name)
        return dict(self.emulator.objects[key].raw)

    def replicas(self, name: str, namespace: str = "default") -> tuple[int, int]:
        """(spec.replicas, status.readyReplicas) of a Deployment."""
        d = self.deployment(name, namespace)
        return d["spec"]["replicas"], (d.get("status") or {}).get("readyReplicas", 0)

    def add_deployment(self, name: str, replicas: int, namespace: str = "default") -> None:
        body = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": f"{name}:1"}]}}},
            "status": {"replicas": replicas, "readyReplicas": replicas},
        }  # fmt: skip
        self.emulator.objects[kmock.resource("apps/v1/deployments"), namespace, name] = body


@contextlib.asynccontextmanager
async def cluster(name: str) -> AsyncIterator[Cluster]:
    """One emulated cluster: the usual resources, and /readyz answering ok."""
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        for res in RESOURCES:
            emulator.resources[res] = {}
        emulator["get /readyz"] << b"ok"

        # The emulator has no PUT (replace) verb; this does what the API server does with one:
        # the stored object becomes the request's object, whole.
        def replace(request: Any) -> Any:
            key = (request.resource, request.namespace, request.name)
            emulator.objects[key] = request.data
            return emulator.objects[key].raw

        emulator["put"] << replace
        yield Cluster(name, emulator, str(server.url).rstrip("/"))


def write_kubeconfig(path: Path, clusters: list[Cluster]) -> Path:
    """A kubeconfig with one context per cluster, named like the cluster."""
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": clusters[0].name,
        "clusters": [{"name": c.name, "cluster": {"server": c.url}} for c in clusters],
        "users": [{"name": "failoverd", "user": {"token": "lab-token"}}],
        "contexts": [{"name": c.name, "context": {"cluster": c.name, "user": "failoverd"}} for c in clusters],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(cfg))
    return path


@dataclass
class ReplicaController:
    """Stands in for the Deployment controller the emulator does not run."""

    clusters: list[Cluster]
    delay: float = 0.3
    _task: asyncio.Task[None] | None = None
    _pending: dict[tuple[str, Any], float] = field(default_factory=dict)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for c in self.clusters:
                for key in list(c.emulator.objects):
                    if key[0] != kmock.resource("apps/v1/deployments"):
                        continue
                    obj = c.emulator.objects[key]
                    if obj.deleted:
                        continue
                    raw = obj.raw
                    want = raw.get("spec", {}).get("replicas", 1)
                    ready = (raw.get("status") or {}).get("readyReplicas", 0)
                    if want == ready:
                        self._pending.pop((c.name, key), None)
                        continue
                    due = self._pending.setdefault((c.name, key), loop.time() + self.delay)
                    if loop.time() >= due:
                        obj.patch({"status": {"replicas": want, "readyReplicas": want}})
                        self._pending.pop((c.name, key), None)
            await asyncio.sleep(0.02)  # a controller's resync tick

    async def __aenter__(self) -> ReplicaController:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
