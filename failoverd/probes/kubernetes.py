"""Kubernetes probe: a workload's ready replicas >= min_ready, or the API server's /readyz.

With no workload named it asks the API server itself: the cluster-level readiness that warm and
cold mode judge an idle standby by.
"""

from __future__ import annotations

import asyncio

from failoverd.clients.clusters import Clusters
from failoverd.clients.kube import WorkloadKind, api_ready, ready_replicas
from failoverd.config import KubernetesProbe as Spec
from failoverd.kit.errors import ActionError
from failoverd.probes.base import Observation, ProbeContext, Timer, register


class KubernetesProbe:
    def __init__(self, spec: Spec, clusters: Clusters) -> None:
        self.spec, self.clusters = spec, clusters

    async def __call__(self) -> Observation:
        t = Timer()
        try:
            async with asyncio.timeout(self.spec.timeout):
                api = await self.clusters.api(self.spec.cluster)
                if self.spec.deployment or self.spec.statefulset:
                    kind: WorkloadKind = "deployment" if self.spec.deployment else "statefulset"
                    name = self.spec.deployment or self.spec.statefulset or ""
                    _, ready = await ready_replicas(api, kind, self.spec.namespace, name)
                    ok = ready >= self.spec.min_ready
                    detail = f"{kind} {self.spec.namespace}/{name} {ready} ready (min {self.spec.min_ready})"
                else:
                    ok, detail = await api_ready(api)
        except TimeoutError:
            return t.failed(f"timeout after {self.spec.timeout:g}s")
        except (ActionError, OSError) as e:
            return t.failed(str(e))
        return t.result(ok, detail)


@register("kubernetes")
def build(spec: Spec, ctx: ProbeContext) -> KubernetesProbe:
    return KubernetesProbe(spec, ctx.clusters)
