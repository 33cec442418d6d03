"""The decision core, by tables and by properties: no I/O, no clock, no sleeping."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failoverd.machine import (
    Blocked,
    Decision,
    Notify,
    Policy,
    ProbeResult,
    Round,
    ServiceState,
    StartPlan,
    State,
    active_after_plan,
    may_replicate,
    on_adopt,
    on_command,
    on_plan_done,
    on_round,
    round_failed,
)

OK, BAD = ProbeResult(True), ProbeResult(False)
CLUSTER_OK, CLUSTER_BAD = ProbeResult(True, cluster=True), ProbeResult(False, cluster=True)
POLICY = Policy(failure_threshold=3, recovery_threshold=2, quorum="any", hold_down=60.0)


def rnd(primary: bool, standby: bool = True) -> Round:
    return Round((OK if primary else BAD,), (OK if standby else BAD,))


def feed(
    st: ServiceState, rounds: list[Round], policy: Policy = POLICY, t0: float = 1000.0
) -> tuple[ServiceState, list[Decision]]:
    decisions = []
    for i, r in enumerate(rounds):
        d = on_round(st, r, t0 + i, policy)
        decisions.append(d)
        st = d.state
    return st, decisions


def plans(decisions: list[Decision]) -> list[StartPlan]:
    return [a for d in decisions for a in d.actions if isinstance(a, StartPlan)]


def warmed(policy: Policy = POLICY) -> ServiceState:
    st, _ = feed(ServiceState(), [rnd(True)] * policy.recovery_threshold, policy, t0=0.0)
    return st


@pytest.mark.parametrize(
    ("quorum", "fails", "total", "expected"),
    [
        ("any", 1, 3, True),
        ("any", 0, 3, False),
        ("majority", 1, 3, False),
        ("majority", 2, 3, True),
        ("majority", 1, 2, False),
        ("all", 2, 3, False),
        ("all", 3, 3, True),
        (2, 1, 3, False),
        (2, 2, 3, True),
        (5, 2, 2, True),  # N larger than the probe count means all of them
    ],
)
def test_round_fails_when_quorum_of_probes_failed(quorum, fails, total, expected):
    results = tuple([BAD] * fails + [OK] * (total - fails))
    assert round_failed(results, quorum) is expected


def test_one_failed_round_makes_the_primary_suspect_and_a_healthy_one_clears_it():
    st, ds = feed(warmed(), [rnd(False)])
    assert st.state == State.PRIMARY_SUSPECT
    st, ds = feed(st, [rnd(True)])
    assert st.state == State.PRIMARY_ACTIVE and not plans(ds)


def test_failover_starts_on_the_threshold_round_and_not_before():
    _, ds = feed(warmed(), [rnd(False)] * 3)
    assert [d.state.state for d in ds] == [
        State.PRIMARY_SUSPECT,
        State.PRIMARY_SUSPECT,
        State.FAILING_OVER,
    ]
    (plan,) = plans(ds)
    assert (plan.kind, plan.trigger, plan.target) == ("failover", "auto", "standby")


def test_rto_clock_starts_at_the_last_healthy_primary_round():
    st, _ = feed(ServiceState(), [rnd(True)] * 2, t0=500.0)  # last healthy at 501
    _, ds = feed(st, [rnd(False)] * 3, t0=510.0)
    assert plans(ds)[0].outage_started == 501.0


def test_failover_to_a_standby_that_is_not_ready_blocks_and_notifies_once():
    st, ds = feed(ServiceState(), [rnd(False, standby=False)] * 6)
    assert st.state == State.BLOCKED and st.blocked == Blocked.STANDBY_NOT_READY
    assert not plans(ds)
    assert sum(isinstance(a, Notify) for d in ds for a in d.actions) == 1
    assert st.active == "primary"


def test_blocked_for_an_unready_standby_fails_over_once_the_standby_is_ready():
    st, _ = feed(ServiceState(), [rnd(False, standby=False)] * 3)
    assert st.state == State.BLOCKED
    st, ds = feed(st, [rnd(False, standby=True)] * 2)
    assert st.state == State.FAILING_OVER and len(plans(ds)) == 1


def test_blocked_clears_when_the_primary_recovers():
    st, _ = feed(ServiceState(), [rnd(False, standby=False)] * 3)
    st, _ = feed(st, [rnd(True, standby=False)])
    assert st.state == State.PRIMARY_ACTIVE and st.blocked is None


def test_hold_down_blocks_an_automatic_move_until_it_has_passed():
    st = replace(warmed(), last_move_at=1000.0)
    st, ds = feed(st, [rnd(False)] * 3, t0=1010.0)
    assert st.state == State.BLOCKED and st.blocked == Blocked.HOLD_DOWN and not plans(ds)
    st, ds = feed(st, [rnd(False)], t0=1061.0)
    assert st.state == State.FAILING_OVER and plans(ds)


def test_plan_success_settles_on_the_standby_and_starts_hold_down():
    st, _ = feed(warmed(), [rnd(False)] * 3)
    d = on_plan_done(st, ok=True, active="standby", now=2000.0)
    assert (d.state.state, d.state.active, d.state.last_move_at) == (
        State.STANDBY_ACTIVE,
        "standby",
        2000.0,
    )


def test_plan_failure_blocks_and_only_an_operator_clears_it():
    st, _ = feed(warmed(), [rnd(False)] * 3)
    d = on_plan_done(st, ok=False, active="primary", now=2000.0, error="switch: REFUSED")
    assert d.state.state == State.BLOCKED and d.state.blocked == Blocked.PLAN_FAILED
    assert "REFUSED" in d.reason
    st, ds = feed(d.state, [rnd(False)] * 10 + [rnd(True)] * 10)
    assert st.state == State.BLOCKED and not plans(ds)
    resumed = on_command(st, "resume", 3000.0)
    assert not resumed.rejected and resumed.state.state == State.PRIMARY_ACTIVE


def test_no_automatic_failback_without_auto_failback():
    st = ServiceState.settled("standby", last_move_at=0.0)
    st, ds = feed(st, [rnd(True)] * 50, t0=10_000.0)
    assert st.state == State.STANDBY_ACTIVE and not plans(ds)


def test_auto_failback_after_recovery_threshold_and_hold_down():
    policy = replace(POLICY, auto_failback=True, recovery_threshold=3)
    st = ServiceState.settled("standby", last_move_at=1000.0)
    st, ds = feed(st, [rnd(True)] * 5, policy, t0=1010.0)
    assert not plans(ds), "hold_down has not passed"
    st, ds = feed(st, [rnd(True)], policy, t0=1100.0)
    (plan,) = plans(ds)
    assert (plan.kind, plan.target, st.state) == ("failback", "primary", State.FAILING_BACK)


def test_a_failing_serving_standby_is_suspect_and_notified_once():
    st = ServiceState.settled("standby")
    st, ds = feed(st, [rnd(True, standby=False)] * 5)
    assert st.state == State.STANDBY_SUSPECT
    assert sum(isinstance(a, Notify) for d in ds for a in d.actions) == 1


def test_paused_counts_rounds_but_never_moves():
    st = on_command(warmed(), "pause", 0.0).state
    st, ds = feed(st, [rnd(False)] * 20)
    assert st.state == State.PAUSED and not plans(ds)
    assert st.fails["primary"] == 20


def test_manual_failover_from_paused_returns_to_paused():
    st = on_command(warmed(), "pause", 0.0).state
    d = on_command(st, "failover", 1.0, reason="maintenance", policy=POLICY)
    assert not d.rejected and plans([d])[0].trigger == "manual"
    done = on_plan_done(d.state, ok=True, active="standby", now=2.0).state
    assert (done.state, done.active) == (State.PAUSED, "standby")


@pytest.mark.parametrize(
    ("state", "active", "command"),
    [
        (State.STANDBY_ACTIVE, "standby", "failover"),
        (State.PRIMARY_ACTIVE, "primary", "failback"),
        (State.FAILING_OVER, "primary", "failover"),
        (State.FAILING_OVER, "primary", "pause"),
        (State.PRIMARY_ACTIVE, "primary", "resume"),
        (State.PAUSED, "primary", "pause"),
    ],
)
def test_commands_not_allowed_in_a_state_are_rejected_without_change(state, active, command):
    st = replace(ServiceState(), state=state, active=active)
    d = on_command(st, command, 0.0)
    assert d.rejected and d.state is st and not d.actions


def test_manual_failover_is_allowed_while_suspect_and_records_the_command_time():
    st, _ = feed(warmed(), [rnd(False)])
    d = on_command(st, "failover", 1234.0, policy=POLICY)
    assert plans([d])[0].outage_started == 1234.0


def test_warm_mode_judges_the_idle_standby_by_its_cluster_probes_only():
    policy = replace(POLICY, mode="warm")
    standby_app_down = Round((BAD,), (BAD, CLUSTER_OK))
    st, ds = feed(
        ServiceState(), [Round((OK,), (BAD, CLUSTER_OK))] * 2 + [standby_app_down] * 3, policy
    )
    assert st.state == State.FAILING_OVER and plans(ds)
    st, ds = feed(ServiceState(), [Round((BAD,), (OK, CLUSTER_BAD))] * 6, policy)
    assert st.state == State.BLOCKED


# --------------------------------------------------------------------------- properties

rounds = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=60)
policies = st.builds(
    Policy,
    failure_threshold=st.integers(1, 6),
    recovery_threshold=st.integers(1, 6),
    quorum=st.just("any"),
    auto_failback=st.booleans(),
    hold_down=st.sampled_from([0.0, 5.0, 1000.0]),
)


def run(policy: Policy, seq: list[tuple[bool, bool]], start: ServiceState | None = None):
    state = start or ServiceState()
    history = []
    for i, (p, s) in enumerate(seq):
        d = on_round(state, rnd(p, s), float(i), policy)
        history.append((state, (p, s), d))
        state = d.state
    return history


@settings(max_examples=400)
@given(policies, rounds)
def test_never_a_failover_before_threshold_consecutive_failed_rounds(policy, seq):
    for i, (_, _, d) in enumerate(run(policy, seq)):
        for a in d.actions:
            if isinstance(a, StartPlan):
                window = seq[max(0, i - policy.failure_threshold + 1) : i + 1]
                assert len(window) == policy.failure_threshold
                assert all(not p for p, _ in window)


@settings(max_examples=400)
@given(policies, rounds)
def test_never_a_move_to_a_standby_that_is_not_ready(policy, seq):
    for i, (_, _, d) in enumerate(run(policy, seq)):
        if any(isinstance(a, StartPlan) for a in d.actions):
            window = seq[max(0, i - policy.recovery_threshold + 1) : i + 1]
            assert len(window) == policy.recovery_threshold
            assert all(s for _, s in window)


@settings(max_examples=300)
@given(policies, rounds, st.floats(-100, 100))
def test_no_automatic_move_within_hold_down(policy, seq, moved_at):
    start = ServiceState.settled("primary", last_move_at=moved_at)
    for i, (_, _, d) in enumerate(run(policy, seq, start)):
        if any(isinstance(a, StartPlan) for a in d.actions):
            # a stamp in the future (the clock jumped back) counts from the first round after it
            assert float(i) >= min(moved_at, 0.0) + policy.hold_down


@settings(max_examples=300)
@given(policies, rounds)
def test_no_automatic_failback_unless_auto_failback(policy, seq):
    start = ServiceState.settled("standby", last_move_at=-1e9)
    starts = [a for *_, d in run(policy, seq, start) for a in d.actions if isinstance(a, StartPlan)]
    if not policy.auto_failback:
        assert starts == []
    assert all(a.kind == "failback" for a in starts)


@settings(max_examples=300)
@given(policies, rounds)
def test_paused_never_moves(policy, seq):
    start = on_command(ServiceState(), "pause", 0.0).state
    for _, _, d in run(policy, seq, start):
        assert d.state.state == State.PAUSED and not d.actions


@settings(max_examples=300)
@given(policies, rounds)
def test_rounds_never_change_the_active_side(policy, seq):
    for before, _, d in run(policy, seq):
        assert d.state.active == before.active


# --------------------------------------------------------------------------- start-up and plans


@pytest.mark.parametrize(
    ("state", "active", "current", "want_state", "want_active"),
    [
        (State.PRIMARY_ACTIVE, "primary", "primary", State.PRIMARY_ACTIVE, "primary"),
        (State.PRIMARY_ACTIVE, "primary", None, State.PRIMARY_ACTIVE, "primary"),
        (State.PRIMARY_ACTIVE, "primary", "standby", State.STANDBY_ACTIVE, "standby"),
        (State.STANDBY_ACTIVE, "standby", "primary", State.PRIMARY_ACTIVE, "primary"),
        (State.PAUSED, "primary", "standby", State.PAUSED, "standby"),
        (State.BLOCKED, "primary", "standby", State.STANDBY_ACTIVE, "standby"),
    ],
)
def test_at_start_the_side_the_traffic_points_at_is_adopted(
    state, active, current, want_state, want_active
):
    st = ServiceState(state=state, active=active, last_move_at=42.0)
    d = on_adopt(st, current)
    assert (d.state.state, d.state.active) == (want_state, want_active)
    assert d.state.last_move_at == 42.0
    cleared = [a.event for a in d.actions] == ["blocked_cleared"]
    assert cleared == (state == State.BLOCKED), d.actions
    assert ("adopting" in d.reason) == (current is not None and current != active)


@pytest.mark.parametrize(
    ("ok", "switch_done", "observed", "expected"),
    [
        (True, True, None, "standby"),  # success: the target
        (True, True, "primary", "standby"),  # success wins over a stale read
        (False, False, None, "primary"),  # failed before the switch: nothing moved
        (False, True, None, "standby"),  # the switch landed, verify failed
        (False, False, "standby", "standby"),  # the UPSERT landed, then timed out: ask the switch
        (False, True, "primary", "primary"),  # the switch says it is still on the primary
    ],
)
def test_after_a_plan_traffic_is_where_the_switch_says_else_where_the_journal_says(
    ok, switch_done, observed, expected
):
    assert active_after_plan("primary", "standby", ok, switch_done, observed) == expected


@pytest.mark.parametrize(
    ("state", "active", "plan_in_flight", "expected"),
    [
        (State.PRIMARY_ACTIVE, "primary", False, True),
        (State.PRIMARY_SUSPECT, "primary", False, True),
        (State.BLOCKED, "primary", False, True),
        (State.PAUSED, "primary", False, True),
        (State.PRIMARY_ACTIVE, "primary", True, False),
        (State.FAILING_OVER, "primary", False, False),
        (State.STANDBY_ACTIVE, "standby", False, False),
        (State.FAILING_BACK, "standby", True, False),
    ],
)
def test_replication_runs_only_while_the_primary_serves_and_nothing_moves(
    state, active, plan_in_flight, expected
):
    st = ServiceState(state=state, active=active)
    assert may_replicate(st, plan_in_flight) is expected


def test_a_move_stamped_in_the_future_holds_for_hold_down_not_for_the_jump():
    # the wall clock jumped back an hour after the last move was stamped
    st = replace(warmed(), last_move_at=1000.0 + 3600)
    st, ds = feed(st, [rnd(False)] * 3, t0=1000.0)
    assert st.state == State.BLOCKED and st.blocked == Blocked.HOLD_DOWN
    assert st.last_move_at == 1000.0, "clamped to the first round that saw it"
    _, ds = feed(st, [rnd(False)], t0=1000.0 + POLICY.hold_down)
    assert plans(ds), "hold_down (60s) passed: the failover goes ahead"


def test_a_manual_move_towards_a_side_that_is_not_ready_needs_force():
    st = ServiceState()  # nothing observed yet: the standby is not ready
    d = on_command(st, "failover", 1.0, policy=POLICY)
    assert d.rejected and "standby is not ready" in d.reason and d.state is st
    forced = on_command(st, "failover", 1.0, "the DBA says so", policy=POLICY, force=True)
    (plan,) = plans([forced])
    assert plan.forced and "FORCED" in forced.reason
    assert any(isinstance(a, Notify) and a.event == "forced_move" for a in forced.actions)


def test_the_idle_side_in_warm_mode_without_a_cluster_probe_is_never_ready():
    policy = replace(POLICY, mode="warm", auto_failback=True, hold_down=0.0)
    st = ServiceState.settled("standby")
    # the primary's only probe is an app probe: nobody vouches for the idle primary's cluster
    st, ds = feed(st, [Round((OK,), (OK,))] * 10, policy)
    assert st.oks["primary"] == 0 and not plans(ds)


@pytest.mark.parametrize(
    ("state", "current", "known", "want"),
    [
        (State.PRIMARY_ACTIVE, None, False, (State.BLOCKED, Blocked.SWITCH_UNKNOWN, "primary")),
        (State.FAILING_OVER, "standby", True, (State.BLOCKED, Blocked.PLAN_FAILED, "standby")),
        (State.FAILING_OVER, "primary", True, (State.BLOCKED, Blocked.PLAN_FAILED, "primary")),
        (State.FAILING_BACK, None, True, (State.BLOCKED, Blocked.PLAN_FAILED, "primary")),
    ],
)
def test_at_start_an_unreadable_switch_or_a_lost_journal_blocks(state, current, known, want):
    st = ServiceState(state=state, active="primary")
    d = on_adopt(st, current, known=known, error="timeout")
    assert (d.state.state, d.state.blocked, d.state.active) == want
    assert [a.event for a in d.actions if isinstance(a, Notify)] == ["blocked"]


def test_blocked_on_an_unreadable_switch_settles_where_it_points_once_it_answers():
    st = on_adopt(ServiceState(), None, known=False, error="timeout").state
    st, ds = feed(st, [rnd(False)] * 5)
    assert st.state == State.BLOCKED and not plans(ds), "no move while the switch is unknown"
    d = on_adopt(st, "standby")
    assert (d.state.state, d.state.active, d.state.blocked) == (
        State.STANDBY_ACTIVE,
        "standby",
        None,
    )


def test_a_failed_plan_whose_switch_started_counts_as_a_move_for_hold_down():
    st = replace(warmed(), state=State.FAILING_OVER)
    d = on_plan_done(st, ok=False, active="primary", now=500.0, error="verify", moved=True)
    assert d.state.last_move_at == 500.0
    d = on_plan_done(st, ok=False, active="primary", now=500.0, error="prepare")
    assert d.state.last_move_at == st.last_move_at


def test_leaving_blocked_says_so_once_and_staying_blocked_does_not():
    st, ds = feed(warmed(), [rnd(False, standby=False)] * 5)  # blocked: standby not ready
    assert st.state == State.BLOCKED
    st, ds = feed(st, [rnd(True)])
    assert st.state == State.PRIMARY_ACTIVE
    assert [a.event for a in ds[0].actions] == ["blocked_cleared"]
    assert "standby_not_ready" in ds[0].actions[0].message


# --------------------------------------------------------------------------- vantage points

WITNESS_UP = ProbeResult(True, cluster=True, label="bastion", witness=True)
WITNESS_DOWN = ProbeResult(False, cluster=True, label="bastion", witness=True)


def test_a_witness_that_sees_the_primary_up_holds_a_failover_under_quorum_all():
    policy = replace(POLICY, quorum="all")
    st, ds = feed(warmed(policy), [Round((BAD, WITNESS_UP), (OK,))] * 5, policy)
    assert st.state == State.PRIMARY_ACTIVE and not plans(ds)
    st, ds = feed(st, [Round((BAD, WITNESS_DOWN), (OK,))] * 3, policy)
    (plan,) = plans(ds)
    assert "1 of 1 probes down, witness bastion agrees" in plan.reason


def test_the_reason_says_which_vantage_points_disagree():
    from failoverd.machine import vantage

    rnd = Round((BAD, BAD, WITNESS_UP, ProbeResult(False, label="cloud", witness=True)), (OK,))
    assert vantage(rnd, "primary") == (
        "2 of 2 probes down, witness cloud agrees, witness bastion disagrees"
    )


def test_an_observe_only_instance_counts_rounds_and_never_acts():
    policy = replace(POLICY, observe_only=True)
    st, ds = feed(warmed(policy), [rnd(False)] * 10, policy)
    assert st.fails["primary"] == 10 and not any(d.actions for d in ds)
    d = on_command(st, "failover", 0.0, policy=policy, force=True)
    assert d.rejected and "only observes" in d.reason


# --------------------------------------------------------------------------- operators in control

PROPOSE = replace(POLICY, automation="propose", approval_timeout=300.0)


def proposed(policy: Policy = PROPOSE) -> ServiceState:
    st, ds = feed(warmed(policy), [rnd(False)] * 3, policy)
    assert st.state == State.PENDING_APPROVAL and not plans(ds)
    assert [a.event for d in ds for a in d.actions] == ["failover_proposed"]
    return st


def test_propose_mode_holds_the_failover_until_approved():
    st = proposed()
    st, ds = feed(st, [rnd(False)] * 5, PROPOSE, t0=1100.0)
    assert st.state == State.PENDING_APPROVAL and not plans(ds)
    d = on_command(st, "approve", 1200.0, "go", policy=PROPOSE)
    (plan,) = plans([d])
    assert plan.kind == "failover" and plan.outage_started == st.last_ok_at["primary"]


def test_a_rejected_proposal_stays_on_the_primary_until_it_recovers():
    d = on_command(proposed(), "reject", 1100.0, "false alarm", policy=PROPOSE)
    assert (d.state.state, d.state.blocked) == (State.BLOCKED, Blocked.REJECTED)
    st, ds = feed(d.state, [rnd(False)] * 10, PROPOSE, t0=1200.0)
    assert st.state == State.BLOCKED and not plans(ds), "not proposed again while still down"
    st, ds = feed(st, [rnd(True)], PROPOSE, t0=1300.0)
    assert st.state == State.PRIMARY_ACTIVE


@pytest.mark.parametrize(
    ("on_timeout", "expected"), [("stay", State.BLOCKED), ("failover", State.FAILING_OVER)]
)
def test_an_unanswered_proposal_does_what_on_timeout_says(on_timeout, expected):
    policy = replace(PROPOSE, on_timeout=on_timeout)
    st = proposed(policy)
    st, ds = feed(st, [rnd(False)], policy, t0=st.proposed_at + 299)
    assert st.state == State.PENDING_APPROVAL
    st, ds = feed(st, [rnd(False)], policy, t0=st.proposed_at + 301)
    assert st.state == expected and bool(plans(ds)) == (on_timeout == "failover")


def test_a_recovered_primary_withdraws_the_proposal():
    st, ds = feed(proposed(), [rnd(True)], PROPOSE, t0=1100.0)
    assert st.state == State.PRIMARY_ACTIVE and st.proposed_at is None
    assert [a.event for a in ds[0].actions] == ["proposal_withdrawn"]


PROPOSAL_ENDS = {"proposal_approved", "proposal_rejected", "proposal_expired", "proposal_withdrawn"}


def events(d: Decision) -> list[str]:
    return [a.event for a in d.actions if isinstance(a, Notify)]


@pytest.mark.parametrize(
    ("answer", "ends_with"),
    [
        ("approve", ["proposal_approved"]),
        ("reject", ["proposal_rejected", "blocked"]),
        ("pause", ["proposal_withdrawn"]),
        ("failover", ["proposal_withdrawn"]),
    ],
)
def test_an_answered_proposal_says_it_ended(answer, ends_with):
    d = on_command(proposed(), answer, 1100.0, "because", policy=PROPOSE)
    assert not d.rejected and events(d) == ends_with


@pytest.mark.parametrize(
    ("on_timeout", "ends_with"),
    [("stay", ["proposal_expired", "blocked"]), ("failover", ["proposal_expired"])],
)
def test_an_unanswered_proposal_says_it_expired(on_timeout, ends_with):
    policy = replace(PROPOSE, on_timeout=on_timeout)
    st = proposed(policy)
    st, ds = feed(st, [rnd(False)], policy, t0=st.proposed_at + 301)
    assert events(ds[0]) == ends_with
    assert "approval_timeout" in ds[0].actions[0].message


def test_a_proposal_dropped_by_an_adopted_move_says_it_ended():
    d = on_adopt(proposed(), "standby")
    assert d.state.state == State.STANDBY_ACTIVE and events(d) == ["proposal_withdrawn"]


proposal_steps = st.lists(
    st.one_of(
        st.tuples(st.just("round"), st.booleans(), st.booleans()),
        st.tuples(
            st.just("command"),
            st.sampled_from(["approve", "reject", "pause", "resume", "failover", "failback"]),
            st.booleans(),
        ),
        st.tuples(st.just("adopt"), st.sampled_from(["primary", "standby", None]), st.booleans()),
        st.tuples(st.just("plan_done"), st.booleans(), st.sampled_from(["primary", "standby"])),
    ),
    max_size=80,
)


@settings(max_examples=400)
@given(policies, st.sampled_from(["stay", "failover"]), proposal_steps)
def test_every_proposal_ends_once_with_an_event_that_resolves_it(policy, on_timeout, steps):
    policy = replace(policy, automation="propose", approval_timeout=5.0, on_timeout=on_timeout)
    state, open_ = ServiceState(), False
    for i, (kind, a, b) in enumerate(steps):
        now = float(i)
        if kind == "round":
            d = on_round(state, rnd(a, b), now, policy)
        elif kind == "command":
            d = on_command(state, a, now, policy=policy, force=b)
        elif kind == "adopt":
            d = on_adopt(state, a, known=b, error="timeout")
        elif state.state in (State.FAILING_OVER, State.FAILING_BACK):
            d = on_plan_done(state, a, b, now)
        else:
            continue
        for event in events(d):
            if event == "failover_proposed":
                assert not open_, "a second proposal while one is open"
                open_ = True
            elif event in PROPOSAL_ENDS:
                assert open_, f"{event} with no open proposal"
                open_ = False
        assert open_ == (d.state.state == State.PENDING_APPROVAL), (kind, a, b, d.reason)
        state = d.state


def test_automation_off_never_moves_but_a_manual_failover_still_works():
    policy = replace(POLICY, automation="off")
    st, ds = feed(warmed(policy), [rnd(False)] * 6, policy)
    assert (st.state, st.blocked) == (State.BLOCKED, Blocked.AUTOMATION_OFF) and not plans(ds)
    assert plans([on_command(st, "failover", 2000.0, policy=policy)])


def test_a_timed_pause_resumes_by_itself():
    st = on_command(warmed(), "pause", 1000.0, policy=POLICY, until=1000.0 + 7200).state
    assert st.state == State.PAUSED and st.paused_until == 8200.0
    st, _ = feed(st, [rnd(True)], t0=8199.0)
    assert st.state == State.PAUSED
    st, _ = feed(st, [rnd(True)], t0=8200.0)
    assert st.state == State.PRIMARY_ACTIVE and st.paused_until is None


@pytest.mark.parametrize(
    ("rpo", "waited", "then", "expected"),
    [
        (10.0, 0.0, "block", "pass"),
        (None, 5.0, "block", "wait"),
        (90.0, 5.0, "block", "wait"),
        (90.0, 120.0, "block", "block"),
        (90.0, 120.0, "failover", "failover"),
        (None, 121.0, "failover", "failover"),
        (30.0, 121.0, "block", "pass"),
    ],
)
def test_the_rpo_gate(rpo, waited, then, expected):
    from failoverd.machine import rpo_gate

    assert rpo_gate(rpo, 30.0, waited, 120.0, then) == expected


def test_a_suspect_serving_side_is_probed_again_sooner():
    from failoverd.machine import next_interval

    policy = replace(POLICY, interval=2.0, suspect_interval=0.2)
    st = warmed(policy)
    assert next_interval(st, policy) == 2.0
    st, _ = feed(st, [rnd(False)], policy)
    assert st.state == State.PRIMARY_SUSPECT and next_interval(st, policy) == 0.2
    st, _ = feed(st, [rnd(True)], policy)
    assert next_interval(st, policy) == 2.0
    assert next_interval(st, replace(policy, suspect_interval=None)) == 2.0


# ----------------------------------------------------------------- an operator's hold survives


def _paused(until: float | None) -> ServiceState:
    return on_command(warmed(), "pause", 1000.0, policy=POLICY, until=until).state


def _held(kind: str) -> ServiceState:
    """A service under each kind of operator's hold."""
    if kind == "paused":
        return _paused(None)
    if kind == "timed":
        return _paused(8200.0)
    if kind == "plan_failed":
        st = replace(warmed(), state=State.FAILING_OVER)
        return on_plan_done(st, ok=False, active="primary", now=900.0, error="verify").state
    propose = replace(POLICY, automation="propose", failure_threshold=1)
    proposed = on_round(warmed(propose), rnd(False), 1.0, propose).state
    assert proposed.state == State.PENDING_APPROVAL
    return on_command(proposed, "reject", 2.0, policy=POLICY).state


HOLDS = ["paused", "timed", "plan_failed", "rejected"]


@pytest.mark.parametrize("kind", HOLDS)
@pytest.mark.parametrize("current", ["primary", "standby"])
def test_a_silent_switch_at_start_keeps_the_operators_hold_and_restores_it(kind, current):
    before = _held(kind)
    blocked = on_adopt(before, None, known=False, error="timeout").state
    assert (blocked.state, blocked.blocked) == (State.BLOCKED, Blocked.SWITCH_UNKNOWN)
    st, ds = feed(blocked, [rnd(False)] * 4)
    assert not plans(ds), "nothing moves while the switch is unknown"
    again = on_adopt(st, None, known=False, error="timeout still").state
    after = on_adopt(again, current).state
    assert (after.state, after.blocked, after.active) == (before.state, before.blocked, current)
    assert after.paused_until == before.paused_until
    _, ds = feed(after, [rnd(False)] * 6, t0=2000.0)
    assert not plans(ds), "the hold still holds: automation did not come back by itself"


@pytest.mark.parametrize("kind", HOLDS)
def test_traffic_found_moved_at_start_keeps_the_operators_hold(kind):
    before = _held(kind)
    after = on_adopt(before, "standby").state
    assert (after.state, after.blocked, after.active) == (before.state, before.blocked, "standby")
    assert after.paused_until == before.paused_until


def test_a_timed_pause_survives_a_manual_move_and_still_ends_by_itself():
    st = _paused(8200.0)
    d = on_command(st, "failover", 1500.0, policy=POLICY)
    assert plans([d])
    st = on_plan_done(d.state, ok=True, active="standby", now=1600.0).state
    assert (st.state, st.active, st.paused_until) == (State.PAUSED, "standby", 8200.0)
    st, _ = feed(st, [rnd(True)], t0=8200.0)
    assert st.state == State.STANDBY_ACTIVE and st.paused_until is None


def test_the_hold_is_kept_in_the_stored_state():
    from failoverd.store.codec import machine_from_dict, machine_to_dict

    st = on_adopt(_held("timed"), None, known=False, error="timeout").state
    assert st.held is not None
    back = machine_from_dict(machine_to_dict(st))
    assert back.held == st.held and back.paused_until == st.paused_until
