"""Everything else the core decides: start-up adoption, operators' commands, a plan's end."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from failoverd.machine.rounds import (
    _block,
    _end_proposal,
    _plan,
    _resume,
    _tells_when_unblocked,
    ready,
)
from failoverd.machine.state import (
    Blocked,
    Command,
    Decision,
    Hold,
    Notify,
    PlanKind,
    Policy,
    ServiceState,
    Side,
    State,
    Trigger,
    other,
)

HOLDS = (Blocked.PLAN_FAILED, Blocked.REJECTED)  # blocks that only an operator clears


def _hold_of(st: ServiceState) -> Hold | None:
    """The operator's hold a service is under (a pause, or a block only an operator clears)."""
    if st.state == State.PAUSED:
        return Hold(State.PAUSED)
    if st.state == State.BLOCKED and st.blocked in HOLDS:
        return Hold(State.BLOCKED, st.blocked)
    if st.state == State.BLOCKED and st.blocked == Blocked.SWITCH_UNKNOWN:
        return st.held
    return None


def _keep_hold(new: ServiceState, hold: Hold | None, paused_until: float | None) -> ServiceState:
    """`new` under the operator's hold, if there was one (a timed pause keeps its end)."""
    if hold is None:
        return new
    if hold.state == State.PAUSED:
        return replace(new, state=State.PAUSED, blocked=None, paused_until=paused_until)
    return replace(new, state=State.BLOCKED, blocked=hold.blocked, warned=True)


def _hold_words(hold: Hold) -> str:
    return "paused" if hold.state == State.PAUSED else f"blocked ({hold.blocked})"


@_tells_when_unblocked
def on_adopt(
    st: ServiceState, current: Side | None, known: bool = True, error: str = ""
) -> Decision:
    """At start (or while blocked on it): what the traffic switch says about where traffic is.

    `current` is the side the switch points at (None: at neither side's values); `known` is
    False when the switch could not be asked. Traffic that already points at the other side
    (moved by hand, or by a daemon whose state was lost) is adopted instead of flipped back. An
    operator's hold (a pause, timed or not, or a block only an operator clears) survives all of
    it: a switch that cannot be read blocks automation until it answers (nothing moves on a
    guess), and the hold is restored then. A service recorded mid-plan with no journal (the two
    were lost between writes) blocks on the side the switch names: an operator decides.
    """
    hold = _hold_of(st)
    if not known:
        why = f"cannot read where traffic points ({error}): no automatic move until the switch answers"
        if st.state == State.BLOCKED and st.blocked == Blocked.SWITCH_UNKNOWN:
            return Decision(st, (), why)
        return _block(replace(st, warned=False, held=hold), Blocked.SWITCH_UNKNOWN, why)
    side = current or st.active
    if st.state in (State.FAILING_OVER, State.FAILING_BACK):
        why = (
            f"recorded as {st.state} but no plan journal survived: traffic is on the {side}; "
            "blocked until an operator resumes or moves it"
        )
        return _block(replace(st, active=side, warned=False), Blocked.PLAN_FAILED, why)
    if st.state == State.BLOCKED and st.blocked == Blocked.SWITCH_UNKNOWN:
        settled = replace(
            ServiceState.settled(side, st.last_move_at),
            oks=st.oks,
            fails=st.fails,
            last_ok_at=st.last_ok_at,
        )
        why = f"the traffic switch answers again: traffic is on the {side}"
        if hold is not None:
            why += f"; the operator's hold is kept: {_hold_words(hold)}"
        return Decision(_keep_hold(settled, hold, st.paused_until), (), why)
    if current is None or current == st.active:
        return Decision(st, (), f"traffic points at the {st.active}, as recorded")
    adopted = _keep_hold(ServiceState.settled(current, st.last_move_at), hold, st.paused_until)
    why = f"traffic already points at the {current}: adopting it"
    if hold is not None:
        why += f"; the operator's hold is kept: {_hold_words(hold)}"
    return Decision(adopted, (), why)


def active_after_plan(
    source: Side, target: Side, ok: bool, switch_done: bool, observed: Side | None = None
) -> Side:
    """The side traffic is on after a plan ended.

    A plan that succeeded left it on its target. After a failure, what the switch itself says
    (`observed`) wins; when it could not be asked, a switch step that finished means the
    target, otherwise the source.
    """
    if ok:
        return target
    if observed is not None:
        return observed
    return target if switch_done else source


def may_replicate(st: ServiceState, plan_in_flight: bool, policy: Policy | None = None) -> bool:
    """Replication copies primary -> standby: only while the primary serves and nothing moves.

    After a failover, copying from the old primary would overwrite the new one.
    """
    if policy is not None and policy.observe_only:
        return False
    moving = plan_in_flight or st.state in (State.FAILING_OVER, State.FAILING_BACK)
    return st.active == "primary" and not moving


@_tells_when_unblocked
def on_command(
    st: ServiceState,
    command: Command,
    now: float,
    reason: str = "",
    policy: Policy | None = None,
    force: bool = False,
    until: float | None = None,
    trigger: Trigger = "manual",
) -> Decision:
    """An operator's command; `rejected` when it is not allowed in the current state.

    A manual move towards a side that is not ready (its last `recovery_threshold` rounds were
    not all healthy) is rejected unless forced: `failoverd failback` typed during the outage
    must not put users on a dead side by a slip of the hand. `until` makes a pause timed.
    """
    policy = policy or Policy()
    if policy.observe_only:
        return Decision(
            st,
            (),
            "this instance only observes (observe_only): it never moves "
            "traffic; use the acting failoverd",
            rejected=True,
        )
    why = f" ({reason})" if reason else ""
    if command in ("approve", "reject"):
        return _answer(st, command, now, why, policy, force)
    if command in ("failover", "failback"):
        return _move(st, command, now, why, policy, force, trigger)
    busy = st.state in (State.FAILING_OVER, State.FAILING_BACK)
    if command == "pause":
        if busy or (st.state == State.PAUSED and until is None):
            return Decision(st, (), f"cannot pause while {st.state}", rejected=True)
        paused = replace(
            st, state=State.PAUSED, blocked=None, paused_until=until, proposed_at=None, held=None
        )
        timed = f" until {until:.0f} (epoch seconds)" if until is not None else ""
        return Decision(paused, (), f"paused by operator{timed}{why}")
    if st.state not in (State.PAUSED, State.BLOCKED):
        return Decision(st, (), f"nothing to resume: the service is {st.state}", rejected=True)
    return _resume(st, f"automation resumed by operator{why}")


def _move(
    st: ServiceState,
    command: Command,
    now: float,
    why: str,
    policy: Policy,
    force: bool,
    trigger: Trigger = "manual",
) -> Decision:
    if st.state in (State.FAILING_OVER, State.FAILING_BACK):
        return Decision(st, (), f"a {st.state} plan is already running", rejected=True)
    want: Side = "primary" if command == "failover" else "standby"
    if st.active != want:
        return Decision(
            st, (), f"{command} not possible: traffic is on the {st.active}", rejected=True
        )
    target = other(want)
    if not ready(st, target, policy) and not force:
        return Decision(
            st,
            (),
            f"{command} refused: the {target} is not ready "
            f"({st.oks[target]} of {policy.recovery_threshold} healthy rounds); "
            "force it if you must",
            rejected=True,
        )
    st = replace(st, proposed_at=None)
    kind: PlanKind = "failover" if command == "failover" else "failback"
    if not ready(st, target, policy):
        d = _plan(
            st,
            kind,
            trigger,
            f"{trigger} {command}, FORCED onto a {target} that is not ready{why}",
            now,
            forced=True,
        )
        return replace(d, actions=(*d.actions, Notify("forced_move", d.reason)))
    return _plan(st, kind, trigger, f"{trigger} {command}{why}", now)


def _answer(
    st: ServiceState, command: Command, now: float, why: str, policy: Policy, force: bool
) -> Decision:
    """approve or reject the failover that propose mode is holding."""
    if st.state != State.PENDING_APPROVAL:
        return Decision(
            st,
            (),
            f"nothing to {command}: no failover is pending (the service is {st.state})",
            rejected=True,
        )
    if command == "reject":
        cleared = replace(st, proposed_at=None)
        why = f"the proposed failover was rejected{why}: staying on the primary until it recovers"
        return _end_proposal(_block(cleared, Blocked.REJECTED, why), "proposal_rejected")
    if not ready(st, "standby", policy) and not force:
        return Decision(
            st,
            (),
            "approve refused: the standby is no longer ready; force it if you must",
            rejected=True,
        )
    approved = replace(st, proposed_at=None)
    forced = not ready(st, "standby", policy)
    why = f"the proposed failover was approved{why}"
    return _end_proposal(
        _plan(approved, "failover", "auto", why, now, forced=forced), "proposal_approved"
    )


def on_plan_done(
    st: ServiceState, ok: bool, active: Side, now: float, error: str = "", moved: bool = False
) -> Decision:
    """A plan finished: settle on the side it left traffic on, or block on a failure.

    `moved`: the failed plan's switch step started, so traffic may have moved: hold_down
    counts from now, as after any move.
    """
    if ok:
        new = replace(
            ServiceState.settled(active, now),
            oks=st.oks,
            last_ok_at=st.last_ok_at,
            state=State.PAUSED if st.paused_after_plan else ServiceState.settled(active).state,
            paused_until=st.paused_until if st.paused_after_plan else None,
        )
        return Decision(new, (), f"plan done: {active} active")
    # the plan's own failed event tells the operators; blocked(plan_failed) is not notified twice
    reason = f"plan failed: {error}" if error else "plan failed"
    new = replace(
        st,
        state=State.BLOCKED,
        blocked=Blocked.PLAN_FAILED,
        active=active,
        warned=True,
        last_move_at=now if moved else st.last_move_at,
    )
    return Decision(new, (), reason)


GateVerdict = Literal["pass", "wait", "failover", "block"]


def rpo_gate(
    rpo: float | None,
    max_rpo: float,
    waited: float,
    wait: float,
    then: Literal["failover", "block"],
) -> GateVerdict:
    """Before a failover switches: may it, with replication this far behind?

    `rpo` is the age of the oldest newest-success of the jobs (None: a job never succeeded).
    Within `max_rpo` it passes; else the plan waits (running the jobs again) up to `wait`, then
    does what `then` says.
    """
    if rpo is not None and rpo <= max_rpo:
        return "pass"
    if waited < wait:
        return "wait"
    return then
