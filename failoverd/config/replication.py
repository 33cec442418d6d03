"""The `replication:` section: job name -> one job kind and how often it runs."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from failoverd.config.common import Bool, CommandSpec, Int, KindUnion, Model, PositiveDuration

SyncKind = Literal["ConfigMap", "Secret", "Deployment", "StatefulSet", "Service"]


def _default_kinds() -> list[SyncKind]:
    return ["ConfigMap", "Secret", "Deployment", "Service"]


class KubernetesSyncJob(Model):
    source: str = Field(alias="from")
    to: str
    namespaces: list[str] = Field(min_length=1)
    kinds: list[SyncKind] = Field(default_factory=_default_kinds)
    # a run refuses to delete more than this share of its copies at the target (a wiped or
    # misspelt source namespace must not wipe the standby), unless allow_mass_delete
    max_delete_share: float = Field(default=0.5, ge=0.0, le=1.0)
    allow_mass_delete: Bool = False
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class S3SnapshotJob(Model):
    cluster: str
    namespaces: list[str] = Field(min_length=1)
    kinds: list[SyncKind] = Field(default_factory=_default_kinds)
    bucket: str
    prefix: str  # this job's own folder in the bucket, e.g. "webapp/"
    region: str | None = None
    endpoint_url: str | None = None
    sse: Literal["AES256", "aws:kms"] = "AES256"
    kms_key_id: str | None = None
    keep: Int = Field(default=10, ge=1, le=1000)
    allow_empty: Bool = False  # write a snapshot that holds no object (else refused)

    @field_validator("prefix")
    @classmethod
    def _v_prefix(cls, v: str) -> str:
        if not v or not v.endswith("/") or v.startswith("/") or "//" in v:
            raise ValueError(
                "prefix must be a non-empty folder ending in '/', e.g. 'webapp/': retention "
                "and restore touch only keys directly in it"
            )
        return v


class JobKind(KindUnion):
    """The kinds of replication job; a job sets exactly one."""

    kubernetes: KubernetesSyncJob | None = None
    s3_snapshot: S3SnapshotJob | None = None
    command: CommandSpec | None = None


JOB_KINDS = JobKind.kinds()


class ReplicationJob(JobKind):
    every: PositiveDuration
    timeout: PositiveDuration | None = None

    @classmethod
    def kinds(cls) -> tuple[str, ...]:
        return JOB_KINDS

    @model_validator(mode="after")
    def _v_kind(self) -> ReplicationJob:
        self.check_one("job kind")
        return self
