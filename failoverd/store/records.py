"""What failoverd persists, as typed records: the machine's state, plan journals, events, jobs.

These types sit in the lowest layer beside the machine so that the plan runner, the
replication scheduler and every store backend share them; codec.py is the one place that
turns them into JSON and back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from failoverd.config.plans import ScaleStep
from failoverd.machine import PlanKind, ServiceState, Side, StartPlan, Trigger, other

StepStatus = Literal["pending", "running", "done", "failed", "skipped"]
PlanResult = Literal["running", "success", "failed"]
HISTORY_LIMIT = 200


@dataclass
class Step:
    """One step of a plan's journal."""

    name: str
    status: StepStatus = "pending"
    attempts: int = 0
    started: float | None = None  # wall clock, for people
    duration_seconds: float | None = None
    error: str | None = None
    best_effort: bool = False  # a failure is recorded but does not fail the plan (fence)
    output: str | None = None  # a command's output tail


@dataclass
class PlanRecord:
    """The journal of one plan, persisted as it goes and shown as `last_failover`."""

    id: str
    kind: PlanKind
    trigger: Trigger
    source: Side
    target: Side
    reason: str
    started: float
    outage_started: float
    steps: list[Step]
    result: PlanResult = "running"
    finished: float | None = None
    rto_seconds: float | None = None
    client_rto_seconds: float | None = None  # until the last listed resolver answered the move
    unconverged: list[str] = field(default_factory=list)  # resolvers still answering the old side
    rpo_seconds: float | None = None
    rpo_jobs: dict[str, float | None] = field(default_factory=dict)  # age of each job's newest
    error: str | None = None
    forced: bool = False  # an operator moved traffic towards a side that was not ready

    @staticmethod
    def new(action: StartPlan, steps: list[Step], now: float) -> PlanRecord:
        return PlanRecord(
            id=uuid.uuid4().hex[:12],
            kind=action.kind,
            trigger=action.trigger,
            source=other(action.target),
            target=action.target,
            reason=action.reason,
            started=now,
            outage_started=action.outage_started,
            steps=steps,
            forced=action.forced,
        )

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def step_done(self, name: str) -> bool:
        s = self.step(name)
        return s is not None and s.status == "done"


@dataclass(frozen=True)
class Event:
    """One transition of a service, as shown in /v1/events."""

    time: float
    service: str
    from_state: str
    to_state: str
    active: Side
    reason: str


@dataclass
class JobRecord:
    """What a replication job last did; its newest success is what the RPO is computed from."""

    last_success: float | None = None
    last_error: str | None = None
    failures: int = 0
    last_note: str | None = None


@dataclass
class DrillCheck:
    """One check of a drill, timed."""

    name: str
    ok: bool
    started: float | None = None
    duration_seconds: float | None = None
    detail: str | None = None


@dataclass
class UndoEntry:
    """What a drill changed and puts back: a workload's replicas, or an object it created."""

    action: Literal["scale", "delete"]
    cluster: str
    kind: str
    namespace: str | None
    name: str
    side: Side | None = None  # the side it touches (journals before this: from the cluster)
    replicas: int | None = None  # scale: the replicas to put back

    def scale_step(self) -> ScaleStep:
        """A scale entry as the plans' scale step puts it back."""
        workload = {"deployment" if self.kind == "deployment" else "statefulset": self.name}
        return ScaleStep(
            cluster=self.cluster,
            namespace=self.namespace or "default",
            replicas=self.replicas or 0,
            **workload,
        )

    def describe(self) -> str:
        what = f"{self.kind} {self.namespace}/{self.name}"
        return f"{what} at {self.replicas} replicas" if self.action == "scale" else what


@dataclass
class DrillRecord:
    """A drill, journaled as it goes (a crash undoes what it changed) and kept as its report."""

    id: str
    service: str
    kind: str  # readiness | full
    reason: str
    started: float
    outcome: str = "running"  # running | passed | failed | interrupted | blocked
    finished: float | None = None
    objectives: dict[str, float | None] = field(default_factory=dict)
    checks: list[DrillCheck] = field(default_factory=list)
    rto_seconds: float | None = None
    failback_rto_seconds: float | None = None
    projected_rto_seconds: float | None = None
    rpo_seconds: float | None = None
    soak_seconds: float = 30.0
    plans: list[str] = field(default_factory=list)
    undo: list[UndoEntry] = field(default_factory=list)  # what to put back, journaled first
    error: str | None = None


@dataclass
class ServiceRecord:
    """One service's persisted part. `plan` is the journal of a plan in flight, else None."""

    machine: ServiceState = field(default_factory=ServiceState)
    plan: PlanRecord | None = None
    last_failover: PlanRecord | None = None
    history: list[Event] = field(default_factory=list)
    replication: dict[str, JobRecord] = field(default_factory=dict)
    drill: DrillRecord | None = None  # the drill in flight
    drills: list[DrillRecord] = field(default_factory=list)  # the last ones, newest first

    def add_event(self, event: Event) -> None:
        self.history.insert(0, event)
        del self.history[HISTORY_LIMIT:]
