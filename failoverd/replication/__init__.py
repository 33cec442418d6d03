"""Replication jobs: what keeps the standby fed, and what a failover would lose (RPO).

One module per job kind (kubernetes, s3_snapshot, command) over base.py's registry; the
scheduler runs each job every `every`, never twice at once, and records what happened.
"""

from __future__ import annotations

from failoverd.config import ReplicationJob
from failoverd.replication.base import Job, JobContext, builder

__all__ = ["Job", "JobContext", "build"]


def build(spec: ReplicationJob, ctx: JobContext) -> Job:
    """The job for one `replication:` entry of a service."""
    return builder(spec.kind)(spec.spec, ctx)
