"""Kubernetes sync job: copy the listed kinds of the listed namespaces from one cluster to another.

Objects are cleaned of what belongs to the source cluster (uid, resourceVersion, status, a
Service's clusterIP and nodePorts...) and labelled as failoverd's, with a hash of the source
object: an unchanged object is not written again, and only objects carrying failoverd's label
are ever updated or deleted at the target (what failoverd did not create, it never touches).
In warm and cold mode, Deployments and StatefulSets arrive with replicas 0: the plan scales
them. Secrets travel only over the two API connections, never to disk or to the log.
"""

from __future__ import annotations

from typing import Any

from failoverd.clients import kube
from failoverd.clients.clusters import Clusters
from failoverd.clients.kube import ApiClient
from failoverd.config import KubernetesSyncJob
from failoverd.kit.errors import PermanentError
from failoverd.replication.base import JobContext, register
from failoverd.replication.objects import apply_object, clean_object, object_hash, read_objects

OWNER_LABEL = "failoverd.io/replicated-from"
HASH_ANNOTATION = "failoverd.io/source-hash"


class KubernetesSync:
    def __init__(self, spec: KubernetesSyncJob, clusters: Clusters, zero_replicas: bool) -> None:
        self.spec, self.clusters, self.zero_replicas = spec, clusters, zero_replicas

    def _desired(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = clean_object(obj)
        if self.zero_replicas and obj["kind"] in ("Deployment", "StatefulSet"):
            out["spec"] = {**out.get("spec", {}), "replicas": 0}
        meta = out["metadata"]
        source_hash = object_hash(out)
        meta["labels"] = {**(meta.get("labels") or {}), OWNER_LABEL: self.spec.source}
        meta["annotations"] = {**(meta.get("annotations") or {}), HASH_ANNOTATION: source_hash}
        return out

    async def __call__(self) -> str:
        src = await self.clusters.api(self.spec.source)
        dst = await self.clusters.api(self.spec.to)
        counts = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0, "foreign": 0}
        for ns in self.spec.namespaces:
            for kind in self.spec.kinds:
                await self._sync(src, dst, ns, kind, counts)
        return ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing to sync"

    async def _sync(
        self, src: ApiClient, dst: ApiClient, ns: str, kind: str, counts: dict[str, int]
    ) -> None:
        wanted = {
            o["metadata"]["name"]: self._desired(o) for o in await read_objects(src, ns, kind)
        }
        present = {o["metadata"]["name"]: o for o in await read_objects(dst, ns, kind)}
        for name, obj in wanted.items():
            have = present.get(name)
            if have is None:
                await apply_object(dst, obj)
                counts["created"] += 1
                continue
            labels = have["metadata"].get("labels") or {}
            if labels.get(OWNER_LABEL) != self.spec.source:
                counts["foreign"] += 1  # someone else's object of the same name: leave it alone
                continue
            annotations = have["metadata"].get("annotations") or {}
            if annotations.get(HASH_ANNOTATION) == obj["metadata"]["annotations"][HASH_ANNOTATION]:
                counts["unchanged"] += 1
                continue
            await kube.replace_object(dst, obj, have["metadata"].get("resourceVersion"))
            counts["updated"] += 1
        owned = [
            name
            for name, have in present.items()
            if (have["metadata"].get("labels") or {}).get(OWNER_LABEL) == self.spec.source
        ]
        gone = [name for name in owned if name not in wanted]
        self._check_deletions(ns, kind, len(wanted), len(set(owned) | set(wanted)), gone)
        for name in gone:
            await kube.delete_object(dst, kind, ns, name)
            counts["deleted"] += 1

    def _check_deletions(
        self, ns: str, kind: str, wanted: int, copies: int, gone: list[str]
    ) -> None:
        """Refuse a run that would wipe the copies: the source is far more likely broken.

        `copies`: the target's copies this job knows of, those owned before the run and those
        the source lists; `gone`: those it would delete.
        """
        if not gone or self.spec.allow_mass_delete:
            return
        share = len(gone) / copies
        if wanted == 0 or share > self.spec.max_delete_share:
            raise PermanentError(
                f"refusing to delete {len(gone)} of {copies} {kind} copies in {ns} at "
                f"{self.spec.to} ({'the source lists none' if wanted == 0 else f'{share:.0%}'} "
                f"> max_delete_share {self.spec.max_delete_share:.0%}): check the source "
                f"{self.spec.source}/{ns}; set allow_mass_delete: true if this is intended"
            )


@register("kubernetes")
def build(spec: KubernetesSyncJob, ctx: JobContext) -> KubernetesSync:
    return KubernetesSync(spec, ctx.clusters, zero_replicas=ctx.mode != "hot")
