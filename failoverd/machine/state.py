"""The decision core's vocabulary: states, policy, observations, and the decisions as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Side = Literal["primary", "standby"]
Trigger = Literal["auto", "manual", "drill"]
PlanKind = Literal["failover", "failback"]
SIDES: tuple[Side, Side] = ("primary", "standby")


class State(StrEnum):
    PRIMARY_ACTIVE = "primary_active"
    PRIMARY_SUSPECT = "primary_suspect"
    FAILING_OVER = "failing_over"
    STANDBY_ACTIVE = "standby_active"
    STANDBY_SUSPECT = "standby_suspect"
    FAILING_BACK = "failing_back"
    PAUSED = "paused"
    BLOCKED = "blocked"
    PENDING_APPROVAL = "pending_approval"


class Blocked(StrEnum):
    """Why a service is blocked; only PLAN_FAILED needs an operator to clear it."""

    STANDBY_NOT_READY = "standby_not_ready"
    HOLD_DOWN = "hold_down"
    PLAN_FAILED = "plan_failed"
    SWITCH_UNKNOWN = "switch_unknown"
    AUTOMATION_OFF = "automation_off"  # it would fail over, but policy.automation is off
    REJECTED = "rejected"  # an operator rejected the proposed failover


def other(side: Side) -> Side:
    return "standby" if side == "primary" else "primary"


@dataclass(frozen=True)
class Policy:
    """The part of a service's configuration that decisions depend on (times in seconds)."""

    failure_threshold: int = 3
    recovery_threshold: int = 5
    quorum: str | int = "majority"
    auto_failback: bool = False
    hold_down: float = 600.0
    mode: Literal["hot", "warm", "cold"] = "hot"
    observe_only: bool = False  # a witness instance: it counts rounds and never moves traffic
    automation: Literal["auto", "propose", "off"] = "auto"
    interval: float = 2.0
    suspect_interval: float | None = None  # re-probe this soon once the serving side failed
    approval_timeout: float = 600.0
    on_timeout: Literal["stay", "failover"] = "stay"


@dataclass(frozen=True)
class ProbeResult:
    """One probe's verdict in a round; `cluster` marks a cluster-level (not app) probe.

    `label` names it in reasons; `witness` marks another failoverd's verdict (a vantage point).
    """

    ok: bool
    cluster: bool = False
    label: str = ""
    witness: bool = False


@dataclass(frozen=True)
class Round:
    """Every probe of both sides, observed once."""

    primary: tuple[ProbeResult, ...]
    standby: tuple[ProbeResult, ...]


@dataclass(frozen=True)
class Hold:
    """An operator's hold (a pause, or a block only an operator clears) kept under another block.

    A switch that cannot be read at start-up blocks the service (switch_unknown); the hold it
    covers is restored once the switch answers, so automation never comes back on by itself.
    """

    state: State  # PAUSED or BLOCKED
    blocked: Blocked | None = None


@dataclass(frozen=True)
class ServiceState:
    """What the machine remembers between inputs. `active` is the side serving traffic."""

    state: State = State.PRIMARY_ACTIVE
    active: Side = "primary"
    blocked: Blocked | None = None
    # consecutive failed / healthy rounds of each side
    fails: dict[Side, int] = field(default_factory=lambda: {"primary": 0, "standby": 0})
    oks: dict[Side, int] = field(default_factory=lambda: {"primary": 0, "standby": 0})
    last_ok_at: dict[Side, float | None] = field(
        default_factory=lambda: {"primary": None, "standby": None}
    )
    last_move_at: float | None = None
    paused_after_plan: bool = False
    warned: bool = False  # the active side's outage was already notified
    paused_until: float | None = None  # a timed pause resumes by itself then
    proposed_at: float | None = None  # propose mode: when the pending failover was proposed
    held: Hold | None = None  # the operator's hold that blocked(switch_unknown) covers for now

    @staticmethod
    def settled(active: Side, last_move_at: float | None = None) -> ServiceState:
        return ServiceState(
            state=State.PRIMARY_ACTIVE if active == "primary" else State.STANDBY_ACTIVE,
            active=active,
            last_move_at=last_move_at,
        )


@dataclass(frozen=True)
class StartPlan:
    """Run a failover or failback plan; `outage_started` is where the RTO clock starts."""

    kind: PlanKind
    trigger: Trigger
    target: Side
    reason: str
    outage_started: float
    forced: bool = False  # an operator moved traffic towards a side that was not ready


@dataclass(frozen=True)
class Notify:
    event: str
    message: str


Action = StartPlan | Notify


@dataclass(frozen=True)
class Decision:
    state: ServiceState
    actions: tuple[Action, ...] = ()
    reason: str = ""
    rejected: bool = False  # a command that is not allowed in this state (the API's 409)


Command = Literal["failover", "failback", "pause", "resume", "approve", "reject"]
