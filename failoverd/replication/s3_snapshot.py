"""S3 snapshot job: a consistent bundle of the listed kinds and namespaces, one S3 object per
snapshot (format in replication/snapshots.py), then retention: keep the `keep` newest."""

from __future__ import annotations

import time

from failoverd.clients.clusters import Clusters
from failoverd.config import S3SnapshotJob
from failoverd.kit.errors import PermanentError
from failoverd.replication.base import JobContext, register
from failoverd.replication.objects import clean_object, read_objects
from failoverd.replication.snapshots import SnapshotStore, encode, new_id


class S3Snapshot:
    def __init__(self, spec: S3SnapshotJob, clusters: Clusters) -> None:
        self.spec, self.clusters = spec, clusters
        self.store = SnapshotStore(spec)

    async def __call__(self) -> str:
        api = await self.clusters.api(self.spec.cluster)
        objects = [
            clean_object(o)
            for ns in self.spec.namespaces
            for kind in self.spec.kinds
            for o in await read_objects(api, ns, kind)
        ]
        if not objects and not self.spec.allow_empty:
            raise PermanentError(
                f"{self.spec.cluster} lists no {', '.join(self.spec.kinds)} in "
                f"{', '.join(self.spec.namespaces)}: refusing to write an empty snapshot "
                "(retention would rotate the good ones out); set allow_empty: true if intended"
            )
        now = time.time()
        sid = new_id(now)
        data = encode(
            objects,
            snapshot_id=sid,
            created=now,
            cluster=self.spec.cluster,
            namespaces=self.spec.namespaces,
            kinds=list(self.spec.kinds),
        )
        key = await self.store.put(sid, data)
        pruned = await self.store.prune()
        return f"{len(objects)} objects to s3://{self.spec.bucket}/{key}" + (
            f", pruned {len(pruned)}" if pruned else ""
        )


@register("s3_snapshot")
def build(spec: S3SnapshotJob, ctx: JobContext) -> S3Snapshot:
    return S3Snapshot(spec, ctx.clusters)
