"""Replication jobs: what keeps the standby fed, and what a failover would lose (RPO).

A job is an async callable that does one run and returns a short note (or raises). The
scheduler runs each job every `every`, never twice at once, and records what happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from failoverd import config
from failoverd.kube import Clusters

Job = Callable[[], Awaitable[str]]


def build(
    service: str, name: str, spec: config.ReplicationJob, mode: str, clusters: Clusters
) -> Job:
    """The job for one `replication:` entry of a service."""
    from failoverd.replication import command_job, kubesync, s3snapshot

    if spec.kubernetes is not None:
        return kubesync.KubernetesSync(spec.kubernetes, clusters, zero_replicas=mode != "hot")
    if spec.s3_snapshot is not None:
        return s3snapshot.S3Snapshot(spec.s3_snapshot, clusters)
    assert spec.command is not None
    return command_job.CommandJob(spec.command, service, name)
