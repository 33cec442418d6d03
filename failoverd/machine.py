"""The decision core: one service's threshold state machine, pure and synchronous.

Everything that decides whether traffic moves lives here and nowhere else. Inputs are the
current state, one frozen round of observations (or an operator command, or a plan's result),
`now` (seconds, passed in: this module never reads a clock) and the policy. The output is a
Decision: the new state, the actions to run (effects as data) and one reason in words. No I/O,
no asyncio, no logging, so every rule is testable by a table or a property, without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Concatenate, Literal, ParamSpec

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


class Blocked(StrEnum):
    """Why a service is blocked; only PLAN_FAILED needs an operator to clear it."""

    STANDBY_NOT_READY = "standby_not_ready"
    HOLD_DOWN = "hold_down"
    PLAN_FAILED = "plan_failed"
    SWITCH_UNKNOWN = "switch_unknown"  # where traffic points could not be read: clears when it can


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


@dataclass(frozen=True)
class ProbeResult:
    """One probe's verdict in a round; `cluster` marks a cluster-level (not app) probe."""

    ok: bool
    cluster: bool = False


@dataclass(frozen=True)
class Round:
    """Every probe of both sides, observed once."""

    primary: tuple[ProbeResult, ...]
    standby: tuple[ProbeResult, ...]


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
    st: ServiceState, kind: PlanKind, trigger: Trigger, reason: str, now: float,
    forced: bool = False,
) -> Decision:  # fmt: skip
    target = other(st.active)
    started = st.last_ok_at[st.active] if trigger == "auto" else None
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
        return d

    decide.__name__, decide.__doc__ = fn.__name__, fn.__doc__
    return decide


@_tells_when_unblocked
def on_round(st: ServiceState, rnd: Round, now: float, policy: Policy) -> Decision:
    """Fold one round of observations into the state and decide whether traffic moves."""
    st = _count(st, rnd, now, policy)
    if st.state in (State.FAILING_OVER, State.FAILING_BACK, State.PAUSED):
        return Decision(st, (), f"{st.state}: round counted, no automatic action")
    if st.state == State.BLOCKED and st.blocked == Blocked.PLAN_FAILED:
        return Decision(st, (), "blocked by a failed plan: waiting for an operator")
    if st.state == State.BLOCKED and st.blocked == Blocked.SWITCH_UNKNOWN:
        return Decision(st, (), "blocked: waiting for the traffic switch to say where traffic is")
    if st.active == "primary":
        return _watch_primary(st, now, policy)
    return _watch_standby(st, now, policy)


def _watch_primary(st: ServiceState, now: float, policy: Policy) -> Decision:
    fails = st.fails["primary"]
    if fails == 0:
        reason = "primary healthy" if st.state != State.BLOCKED else "primary healthy again"
        return Decision(
            replace(st, state=State.PRIMARY_ACTIVE, blocked=None, warned=False), (), reason
        )
    if fails < policy.failure_threshold:
        suspect = replace(st, state=State.PRIMARY_SUSPECT, blocked=None)
        return Decision(suspect, (), f"primary failed {fails} of {policy.failure_threshold} rounds")
    down = f"primary failed {fails} consecutive rounds"
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
    return _plan(st, "failover", "auto", f"{down}; standby ready: failing over", now)


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


@_tells_when_unblocked
def on_adopt(
    st: ServiceState, current: Side | None, known: bool = True, error: str = ""
) -> Decision:
    """At start (or while blocked on it): what the traffic switch says about where traffic is.

    `current` is the side the switch points at (None: at neither side's values); `known` is
    False when the switch could not be asked. Traffic that already points at the other side
    (moved by hand, or by a daemon whose state was lost) is adopted instead of flipped back; a
    paused service stays paused. A service recorded mid-plan with no journal (the two were lost
    between writes) blocks on the side the switch names: an operator decides. A switch that
    cannot be read blocks automation until it answers: nothing moves on a guess.
    """
    if not known:
        why = f"cannot read where traffic points ({error}): no automatic move until the switch answers"
        if st.state == State.BLOCKED and st.blocked == Blocked.SWITCH_UNKNOWN:
            return Decision(st, (), why)
        return _block(replace(st, warned=False), Blocked.SWITCH_UNKNOWN, why)
    side = current or st.active
    if st.state in (State.FAILING_OVER, State.FAILING_BACK):
        why = (
            f"recorded as {st.state} but no plan journal survived: traffic is on the {side}; "
            "blocked until an operator resumes or moves it"
        )
        return _block(replace(st, active=side, warned=False), Blocked.PLAN_FAILED, why)
    if st.state == State.BLOCKED and st.blocked == Blocked.SWITCH_UNKNOWN:
        settled = replace(ServiceState.settled(side, st.last_move_at), oks=st.oks,
                          fails=st.fails, last_ok_at=st.last_ok_at)  # fmt: skip
        return Decision(settled, (), f"the traffic switch answers again: traffic is on the {side}")
    if current is None or current == st.active:
        return Decision(st, (), f"traffic points at the {st.active}, as recorded")
    adopted = ServiceState.settled(current, st.last_move_at)
    if st.state == State.PAUSED:
        adopted = replace(adopted, state=State.PAUSED)
    return Decision(adopted, (), f"traffic already points at the {current}: adopting it")


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


def may_replicate(st: ServiceState, plan_in_flight: bool) -> bool:
    """Replication copies primary -> standby: only while the primary serves and nothing moves.

    After a failover, copying from the old primary would overwrite the new one.
    """
    moving = plan_in_flight or st.state in (State.FAILING_OVER, State.FAILING_BACK)
    return st.active == "primary" and not moving


Command = Literal["failover", "failback", "pause", "resume"]


@_tells_when_unblocked
def on_command(
    st: ServiceState, command: Command, now: float, reason: str = "",
    policy: Policy | None = None, force: bool = False,
) -> Decision:  # fmt: skip
    """An operator's command; `rejected` when it is not allowed in the current state.

    A manual move towards a side that is not ready (its last `recovery_threshold` rounds were
    not all healthy) is rejected unless forced: `failoverd failback` typed during the outage
    must not put users on a dead side by a slip of the hand.
    """
    policy = policy or Policy()
    busy = st.state in (State.FAILING_OVER, State.FAILING_BACK)
    why = f" ({reason})" if reason else ""
    if command in ("failover", "failback"):
        want: Side = "primary" if command == "failover" else "standby"
        if busy:
            return Decision(st, (), f"a {st.state} plan is already running", rejected=True)
        if st.active != want:
            return Decision(
                st, (), f"{command} not possible: traffic is on the {st.active}", rejected=True
            )
        target = other(want)
        if not ready(st, target, policy) and not force:
            return Decision(st, (), f"{command} refused: the {target} is not ready "
                            f"({st.oks[target]} of {policy.recovery_threshold} healthy rounds); "
                            "force it if you must", rejected=True)  # fmt: skip
        if not ready(st, target, policy):
            d = _plan(st, command, "manual", f"manual {command}, FORCED onto a {target} that "
                      f"is not ready{why}", now, forced=True)  # fmt: skip
            return replace(d, actions=(*d.actions, Notify("forced_move", d.reason)))
        return _plan(st, command, "manual", f"manual {command}{why}", now)
    if command == "pause":
        if busy or st.state == State.PAUSED:
            return Decision(st, (), f"cannot pause while {st.state}", rejected=True)
        return Decision(
            replace(st, state=State.PAUSED, blocked=None), (), f"paused by operator{why}"
        )
    if st.state not in (State.PAUSED, State.BLOCKED):
        return Decision(st, (), f"nothing to resume: the service is {st.state}", rejected=True)
    fresh = ServiceState.settled(st.active, st.last_move_at)
    resumed = replace(fresh, oks=st.oks, fails=st.fails, last_ok_at=st.last_ok_at)
    return Decision(resumed, (), f"automation resumed by operator{why}")


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
        )
        return Decision(new, (), f"plan done: {active} active")
    # the plan's own failed event tells the operators; blocked(plan_failed) is not notified twice
    reason = f"plan failed: {error}" if error else "plan failed"
    new = replace(st, state=State.BLOCKED, blocked=Blocked.PLAN_FAILED, active=active, warned=True,
                  last_move_at=now if moved else st.last_move_at)  # fmt: skip
    return Decision(new, (), reason)
