"""The `replication:` section: job name -> one job kind and how often it runs."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from failoverd.config.common import CommandSpec, Duration, KindUnion, Model

SyncKind = Literal["ConfigMap", "Secret", "Deployment", "StatefulSet", "Service"]


def _default_kinds() -> list[SyncKind]:
    return ["ConfigMap", "Secret", "Deployment", "Service"]


class KubernetesSyncJob(Model):
    source: str = Field(alias="from")
    to: str
    namespaces: list[str] = Field(min_length=1)
    kinds: list[SyncKind] = Field(default_factory=_default_kinds)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class S3SnapshotJob(Model):
    cluster: str
    namespaces: list[str] = Field(min_length=1)
    kinds: list[SyncKind] = Field(default_factory=_default_kinds)
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    sse: Literal["AES256", "aws:kms"] = "AES256"
    kms_key_id: str | None = None
    keep: int = Field(default=10, ge=1)


class JobKind(KindUnion):
    """The kinds of replication job; a job sets exactly one."""

    kubernetes: KubernetesSyncJob | None = None
    s3_snapshot: S3SnapshotJob | None = None
    command: CommandSpec | None = None


JOB_KINDS = JobKind.kinds()


class ReplicationJob(JobKind):
    every: Duration
    timeout: Duration | None = None

    @classmethod
    def kinds(cls) -> tuple[str, ...]:
        return JOB_KINDS

    @model_validator(mode="after")
    def _v_kind(self) -> ReplicationJob:
        self.check_one("job kind")
        return self
