"""Rounds: fold one round of observations into the state and decide whether traffic moves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Concatenate, ParamSpec

from failoverd.machine.state import (
    Blocked,
    Decision,
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


def round_failed(results: tuple[ProbeResult, ...], quorum: str | int) -> bool:
    """A side's round fails when `quorum` of its probes failed."""
    if not results:
        return False
    failed = sum(not r.ok for r in results)
    if quorum == "any":
        return failed >= 1
    if quorum == "all":
        return failed == len(results)
    if quorum == "majority":
        return failed * 2 > len(results)
    return failed >= min(int(quorum), len(results))


def _side_failed(rnd: Round, side: Side, st: ServiceState, policy: Policy) -> bool:
    results = rnd.primary if side == "primary" else rnd.standby
    if policy.mode != "hot" and side != st.active:
        # In warm/cold mode the idle side's app is scaled down on purpose: its cluster-level
        # probes say whether it could take over. No such probe: nobody vouches for the side.
        results = tuple(r for r in results if r.cluster)
        if not results:
            return True
    return round_failed(results, policy.quorum)


def side_healthy(st: ServiceState, rnd: Round, side: Side, policy: Policy) -> bool:
    """This round's verdict on a side, by its quorum (what a witness reports to its peers)."""
    return not _side_failed(rnd, side, st, policy)


def vantage(rnd: Round, side: Side) -> str:
    """Which probes and vantage points saw a side fail, in words for the transition's reason."""
    results = rnd.primary if side == "primary" else rnd.standby
    own = [r for r in results if not r.witness]
    witnesses = [r for r in results if r.witness]
    text = f"{sum(not r.ok for r in own)} of {len(own)} probes down"
    agree = [r.label or "witness" for r in witnesses if not r.ok]
    disagree = [r.label or "witness" for r in witnesses if r.ok]
    if agree:
        text += f", witness {', '.join(agree)} {'agrees' if len(agree) == 1 else 'agree'}"
    if disagree:
        text += (
            f", witness {', '.join(disagree)} {'disagrees' if len(disagree) == 1 else 'disagree'}"
        )
    return text


def ready(st: ServiceState, side: Side, policy: Policy) -> bool:
    """A side may receive traffic after `recovery_threshold` consecutive healthy rounds."""
    return st.oks[side] >= policy.recovery_threshold


def _hold_down_left(st: ServiceState, now: float, policy: Policy) -> float:
    if st.last_move_at is None:
        return 0.0
    return max(0.0, st.last_move_at + policy.hold_down - now)


def _count(st: ServiceState, rnd: Round, now: float, policy: Policy) -> ServiceState:
    fails, oks, last_ok = dict(st.fails), dict(st.oks), dict(st.last_ok_at)
    side: Side
    for side in ("primary", "standby"):
        if _side_failed(rnd, side, st, policy):
            fails[side], oks[side] = fails[side] + 1, 0
        else:
            fails[side], oks[side], last_ok[side] = 0, oks[side] + 1, now
    # A move stamped in the future (the wall clock jumped back since) is clamped to now: it
    # holds for hold_down from here, not for the size of the jump on top.
    moved = st.last_move_at if st.last_move_at is None else min(st.last_move_at, now)
    return replace(st, fails=fails, oks=oks, last_ok_at=last_ok, last_move_at=moved)


def _plan(
    st: ServiceState,
    kind: PlanKind,
    trigger: Trigger,
    reason: str,
    now: float,
    forced: bool = False,
) -> Decision:
    target = other(st.active)
    started = st.last_ok_at[st.active] if trigger == "auto" else None  # drills time from now
    state = State.FAILING_OVER if kind == "failover" else State.FAILING_BACK
    new = replace(
        st,
        state=state,
        blocked=None,
        paused_after_plan=st.state == State.PAUSED or (st.paused_after_plan and trigger != "auto"),
    )
    action = StartPlan(kind, trigger, target, reason, now if started is None else started, forced)
    return Decision(new, (action,), reason)


P = ParamSpec("P")

PROPOSAL_ENDS = ("proposal_approved", "proposal_rejected", "proposal_expired", "proposal_withdrawn")
"""The events that end a proposal; each resolves the incident `failover_proposed` opened."""


def _end_proposal(d: Decision, event: str, prefix: str = "") -> Decision:
    """Say the proposal ended, first: its incident resolves before whatever follows opens one."""
    return replace(d, actions=(Notify(event, prefix + d.reason), *d.actions))


def _tells_when_unblocked(
    fn: Callable[Concatenate[ServiceState, P], Decision],
) -> Callable[Concatenate[ServiceState, P], Decision]:
    """A decision that takes a service out of `blocked` says so (the incident can resolve)."""

    def decide(st: ServiceState, /, *args: P.args, **kwargs: P.kwargs) -> Decision:
        d = fn(st, *args, **kwargs)
        if st.state == State.BLOCKED and d.state.state != State.BLOCKED and not d.rejected:
            blocked = st.blocked.value if st.blocked else "blocked"
            cleared = Notify("blocked_cleared", f"no longer blocked ({blocked}): {d.reason}")
            return replace(d, actions=(cleared, *d.actions))
        if (
            st.state == State.PENDING_APPROVAL
            and d.state.state != State.PENDING_APPROVAL
            and not d.rejected
            and not any(isinstance(a, Notify) and a.event in PROPOSAL_ENDS for a in d.actions)
        ):
            # any other way out (a pause, a manual move, traffic found moved) drops the proposal
            return _end_proposal(d, "proposal_withdrawn", "the proposed failover is withdrawn: ")
        return d

    decide.__name__, decide.__doc__ = fn.__name__, fn.__doc__
    return decide


@_tells_when_unblocked
def on_round(st: ServiceState, rnd: Round, now: float, policy: Policy) -> Decision:
    """Fold one round of observations into the state and decide whether traffic moves."""
    st = _count(st, rnd, now, policy)
    if policy.observe_only:
        return Decision(st, (), "observe only: round counted, this instance never moves traffic")
    if st.state == State.PAUSED and st.paused_until is not None and now >= st.paused_until:
        return _resume(st, "the timed pause is over: automation resumed")
    if st.state == State.PENDING_APPROVAL:
        return _watch_proposal(st, now, policy)
    if st.blocked == Blocked.REJECTED and st.fails["primary"] > 0:
        return Decision(
            st, (), "the failover was rejected: staying on the primary until it recovers"
        )
    if st.state in (State.FAILING_OVER, State.FAILING_BACK, State.PAUSED):
        return Decision(st, (), f"{st.state}: round counted, no automatic action")
    if st.state == State.BLOCKED and st.blocked == Blocked.PLAN_FAILED:
        return Decision(st, (), "blocked by a failed plan: waiting for an operator")
    if st.state == State.BLOCKED and st.blocked == Blocked.SWITCH_UNKNOWN:
        return Decision(st, (), "blocked: waiting for the traffic switch to say where traffic is")
    if st.active == "primary":
        return _watch_primary(st, now, policy, vantage(rnd, "primary"))
    return _watch_standby(st, now, policy)


def _watch_primary(st: ServiceState, now: float, policy: Policy, seen: str = "") -> Decision:
    fails = st.fails["primary"]
    if fails == 0:
        reason = "primary healthy" if st.state != State.BLOCKED else "primary healthy again"
        return Decision(
            replace(st, state=State.PRIMARY_ACTIVE, blocked=None, warned=False), (), reason
        )
    if fails < policy.failure_threshold:
        suspect = replace(st, state=State.PRIMARY_SUSPECT, blocked=None)
        why = f"primary failed {fails} of {policy.failure_threshold} rounds" + (
            f": {seen}" if seen else ""
        )
        return Decision(suspect, (), why)
    down = f"primary failed {fails} consecutive rounds" + (f" ({seen})" if seen else "")
    if not ready(st, "standby", policy):
        why = (
            f"{down}, but the standby is not ready "
            f"({st.oks['standby']} of {policy.recovery_threshold} healthy rounds): not moving"
        )
        return _block(st, Blocked.STANDBY_NOT_READY, why)
    left = _hold_down_left(st, now, policy)
    if left > 0:
        return _block(
            st, Blocked.HOLD_DOWN, f"{down}, but hold_down has {left:.0f}s left: not moving"
        )
    if policy.automation == "off":
        return _block(
            st,
            Blocked.AUTOMATION_OFF,
            f"{down}; standby ready, but automation is off: "
            "not moving (a manual failover is possible)",
        )
    if policy.automation == "propose":
        why = f"{down}; standby ready: failover PROPOSED, waiting for approval"
        proposed = replace(st, state=State.PENDING_APPROVAL, blocked=None, proposed_at=now)
        return Decision(proposed, (Notify("failover_proposed", why),), why)
    return _plan(st, "failover", "auto", f"{down}; standby ready: failing over", now)


def _watch_proposal(st: ServiceState, now: float, policy: Policy) -> Decision:
    """Propose mode: the failover waits for an operator, the primary's recovery or the timeout."""
    if st.fails["primary"] == 0:
        settled = replace(st, state=State.PRIMARY_ACTIVE, proposed_at=None, warned=False)
        why = "the primary recovered: the proposed failover is withdrawn"
        return Decision(settled, (Notify("proposal_withdrawn", why),), why)
    waited = now - (st.proposed_at if st.proposed_at is not None else now)
    if waited < policy.approval_timeout:
        left = policy.approval_timeout - waited
        return Decision(st, (), f"failover proposed, waiting for approval ({left:.0f}s left)")
    cleared = replace(st, proposed_at=None)
    unanswered = f"no answer within approval_timeout ({policy.approval_timeout:g}s)"
    if policy.on_timeout == "failover" and ready(st, "standby", policy):
        d = _plan(cleared, "failover", "auto", f"{unanswered}: failing over", now)
    else:
        d = _block(cleared, Blocked.REJECTED, f"{unanswered}: staying on the primary")
    return _end_proposal(d, "proposal_expired")


def _resume(st: ServiceState, why: str) -> Decision:
    fresh = ServiceState.settled(st.active, st.last_move_at)
    return Decision(replace(fresh, oks=st.oks, fails=st.fails, last_ok_at=st.last_ok_at), (), why)


def next_interval(st: ServiceState, policy: Policy) -> float:
    """When to probe again: sooner while the serving side is suspect (confirm it fast)."""
    suspect = st.state in (State.PRIMARY_SUSPECT, State.STANDBY_SUSPECT)
    if policy.suspect_interval is not None and suspect and st.fails[st.active] > 0:
        return min(policy.suspect_interval, policy.interval)
    return policy.interval


def hold_down_left(st: ServiceState, now: float, policy: Policy) -> float:
    """Seconds before an automatic move is allowed again (0 when none is held)."""
    return _hold_down_left(st, now, policy)


def _block(st: ServiceState, why: Blocked, reason: str) -> Decision:
    new = replace(st, state=State.BLOCKED, blocked=why, warned=True)
    actions = () if st.warned and st.state == State.BLOCKED else (Notify("blocked", reason),)
    return Decision(new, actions, reason)


def _watch_standby(st: ServiceState, now: float, policy: Policy) -> Decision:
    if (
        policy.auto_failback
        and ready(st, "primary", policy)
        and _hold_down_left(st, now, policy) == 0
    ):
        reason = (
            f"primary healthy for {st.oks['primary']} rounds and hold_down passed: failing back"
        )
        return _plan(st, "failback", "auto", reason, now)
    fails = st.fails["standby"]
    if fails == 0:
        return Decision(
            replace(st, state=State.STANDBY_ACTIVE, blocked=None, warned=False),
            (),
            "standby healthy",
        )
    new = replace(st, state=State.STANDBY_SUSPECT, blocked=None)
    reason = f"the serving standby failed {fails} consecutive rounds"
    if fails >= policy.failure_threshold and not st.warned:
        return Decision(replace(new, warned=True), (Notify("standby_down", reason),), reason)
    return Decision(new, (), reason)
