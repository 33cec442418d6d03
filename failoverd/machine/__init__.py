"""The decision core: one service's threshold state machine, pure and synchronous.

Everything that decides whether traffic moves lives here and nowhere else. Inputs are the
current state, one frozen round of observations (or an operator command, or a plan's result),
`now` (seconds, passed in: this module never reads a clock) and the policy. The output is a
Decision: the new state, the actions to run (effects as data) and one reason in words. No I/O,
no asyncio, no logging, so every rule is testable by a table or a property, without sleeping.
"""

from failoverd.machine.commands import (
    active_after_plan,
    may_replicate,
    on_adopt,
    on_command,
    on_plan_done,
    rpo_gate,
)
from failoverd.machine.drills import may_undo
from failoverd.machine.lease import LeaseSeen, acting_until, may_take, next_try, observe
from failoverd.machine.rounds import (
    hold_down_left,
    next_interval,
    on_round,
    ready,
    round_failed,
    side_healthy,
    vantage,
)
from failoverd.machine.state import (
    SIDES,
    Action,
    Blocked,
    Command,
    Decision,
    Hold,
    Notify,
    PlanKind,
    Policy,
    ProbeResult,
    Round,
    ServiceState,
    Side,
    StartPlan,
    State,
    Trigger,
    other,
)

__all__ = [
    "SIDES",
    "Action",
    "Blocked",
    "Command",
    "Decision",
    "Hold",
    "LeaseSeen",
    "Notify",
    "PlanKind",
    "Policy",
    "ProbeResult",
    "Round",
    "ServiceState",
    "Side",
    "StartPlan",
    "State",
    "Trigger",
    "acting_until",
    "active_after_plan",
    "hold_down_left",
    "may_replicate",
    "may_take",
    "may_undo",
    "next_interval",
    "next_try",
    "observe",
    "on_adopt",
    "on_command",
    "on_plan_done",
    "on_round",
    "other",
    "ready",
    "round_failed",
    "rpo_gate",
    "side_healthy",
    "vantage",
]
