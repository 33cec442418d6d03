"""The plan sections of a service: `prepare:`, `fence:` and `failback:`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from failoverd.config.common import CommandSpec, Int, Model, PositiveDuration, one_of


class ScaleStep(Model):
    cluster: str
    namespace: str = "default"
    deployment: str | None = None
    statefulset: str | None = None
    replicas: Int = Field(ge=0, le=100_000)

    @model_validator(mode="after")
    def _v_target(self) -> ScaleStep:
        one_of(self, ("deployment", "statefulset"), "workload")
        return self

    @property
    def kind(self) -> Literal["deployment", "statefulset"]:
        return "deployment" if self.deployment else "statefulset"

    @property
    def name(self) -> str:
        return self.deployment or self.statefulset or ""


class RestoreStep(Model):
    """Cold mode: apply the newest snapshot of an s3_snapshot job before scaling up."""

    snapshot_job: str
    cluster: str | None = None  # default: the side being prepared (its label names a cluster)


class PrepareConfig(Model):
    scale: list[ScaleStep] = Field(default_factory=list)
    restore: RestoreStep | None = None
    command: CommandSpec | None = None
    timeout: PositiveDuration = 600.0


class FenceConfig(Model):
    scale: list[ScaleStep] = Field(default_factory=list)
    command: CommandSpec | None = None
    timeout: PositiveDuration = 60.0


class FailbackConfig(Model):
    """What a failback does besides switching: fence the standby's writers, prepare the primary."""

    fence: FenceConfig | None = None
    prepare: PrepareConfig | None = None
