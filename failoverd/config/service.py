"""A service: its sides, objectives, probes, policy, traffic switch, plans and replication."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from failoverd.config.common import (
    Bool,
    Duration,
    Int,
    Model,
    PositiveDuration,
    Quorum,
    host_port,
)
from failoverd.config.plans import FailbackConfig, FenceConfig, PrepareConfig
from failoverd.config.probes import Probes
from failoverd.config.replication import ReplicationJob
from failoverd.config.traffic import TrafficSpec
from failoverd.machine import Side


class RpoGate(Model):
    """Before a failover switches: replication must have caught up to `max`, waiting up to
    `wait` (running the jobs once more meanwhile), then `failover` anyway or `block`."""

    max: PositiveDuration
    wait: Duration = 120.0
    then: Literal["failover", "block"] = "block"


class VerifyConfig(Model):
    """Client-seen RTO: after a switch, wait until these recursive resolvers answer the move."""

    resolvers: list[str] = Field(min_length=1)  # host:port (53 when no port)
    within: PositiveDuration = 120.0
    poll: PositiveDuration = 0.5

    @field_validator("resolvers")
    @classmethod
    def _v_resolvers(cls, v: list[str]) -> list[str]:
        for r in v:
            host_port(r, 53)
        return v


class Policy(Model):
    interval: PositiveDuration = 2.0
    failure_threshold: Int = Field(default=3, ge=1, le=10_000)
    recovery_threshold: Int = Field(default=5, ge=1, le=10_000)
    quorum: Quorum = "majority"
    auto_failback: Bool = False
    hold_down: Duration = 600.0
    step_attempts: Int = Field(default=12, ge=1, le=100)
    step_timeout: PositiveDuration = 10.0
    automation: Literal["auto", "propose", "off"] = "auto"
    approval_timeout: PositiveDuration = 600.0
    on_timeout: Literal["stay", "failover"] = "stay"
    rpo_gate: RpoGate | None = None
    suspect_interval: PositiveDuration | None = None  # re-probe sooner once a round failed


class Objectives(Model):
    rto: Duration | None = None
    rpo: Duration | None = None


class ServiceConfig(Model):
    mode: Literal["hot", "warm", "cold"] = "hot"
    primary: str
    standby: str
    objectives: Objectives = Objectives()
    verify: VerifyConfig | None = None  # client-seen RTO through recursive resolvers
    probes: Probes
    policy: Policy = Policy()
    traffic: TrafficSpec | None = None  # required unless observe_only
    observe_only: Bool | None = (
        None  # a witness: probe and serve /view, never act (default: global)
    )
    prepare: PrepareConfig | None = None
    fence: FenceConfig | None = None
    failback: FailbackConfig | None = None
    replication: dict[str, ReplicationJob] = Field(default_factory=dict)

    def label(self, side: Side) -> str:
        """The side's label (a clusters: key where Kubernetes access is used)."""
        return self.primary if side == "primary" else self.standby

    @model_validator(mode="after")
    def _v_service(self) -> ServiceConfig:
        if self.primary == self.standby:
            raise ValueError("primary and standby must be different sides")
        self._v_acting()
        spacing = min(self.policy.interval, self.policy.suspect_interval or self.policy.interval)
        which = "policy.suspect_interval" if spacing < self.policy.interval else "policy.interval"
        for side, specs in (("primary", self.probes.primary), ("standby", self.probes.standby)):
            for i, p in enumerate(specs):
                if p.spec.timeout > spacing:
                    raise ValueError(
                        f"probes.{side}[{i}].{p.kind}.timeout {p.spec.timeout:g}s is longer than {which} "
                        f"{spacing:g}s: rounds would overrun and detection would slow down"
                    )
        for side in ("standby", "primary") if self.mode != "hot" else ():
            if not any(p.spec.role == "cluster" for p in self.probes.of(side)):  # type: ignore[arg-type]
                raise ValueError(
                    f"mode {self.mode} expects the idle side's app to be down, so probes.{side} "
                    "needs a probe with role: cluster (a kubernetes probe is one) to say whether "
                    f"the {side} could take traffic while it is idle"
                )
        if self.verify is not None and (self.traffic is None or self.traffic.elbv2 is not None):
            raise ValueError("verify.resolvers needs a DNS traffic switch (rfc2136 or route53)")
        if self.policy.rpo_gate is not None and not self.replication:
            raise ValueError("policy.rpo_gate needs replication jobs to wait for")
        if self.prepare and self.prepare.restore:
            job = self.replication.get(self.prepare.restore.snapshot_job)
            if job is None or job.s3_snapshot is None:
                raise ValueError(
                    f"prepare.restore.snapshot_job {self.prepare.restore.snapshot_job!r} "
                    "is not an s3_snapshot job of this service's replication"
                )
        return self

    def _v_acting(self) -> None:
        """An observe-only service has nothing to act with; any other needs its traffic switch."""
        if self.observe_only:
            acting = [k for k in ("traffic", "prepare", "fence", "failback") if getattr(self, k)]
            acting += ["replication"] if self.replication else []
            if acting:
                raise ValueError(f"an observe_only service never acts: remove {', '.join(acting)}")
        elif self.traffic is None:
            raise ValueError("traffic is required (only an observe_only service goes without)")

    def cluster_refs(self) -> set[str]:
        """Every clusters: key this service uses."""
        refs: set[str] = set()
        for p in (*self.probes.primary, *self.probes.standby):
            if p.kubernetes:
                refs.add(p.kubernetes.cluster)
        fb = self.failback or FailbackConfig()
        for section in (self.prepare, self.fence, fb.prepare, fb.fence):
            refs.update(s.cluster for s in (section.scale if section else []))
        for prep, side in ((self.prepare, self.standby), (fb.prepare, self.primary)):
            if prep is not None and prep.restore is not None:
                refs.add(prep.restore.cluster or side)
        for job in self.replication.values():
            if job.kubernetes:
                refs.update((job.kubernetes.source, job.kubernetes.to))
            if job.s3_snapshot:
                refs.add(job.s3_snapshot.cluster)
        return refs
