"""The service runner with fake probes and an in-memory switch, on looptime's fake clock."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import structlog

from failoverd import config
from failoverd.kit.clock import LoopClock
from failoverd.kit.errors import PermanentError
from failoverd.kit.metrics import Metrics
from failoverd.machine import ServiceState, Side, State
from failoverd.plans.steps import StepBook
from failoverd.probes.base import Observation
from failoverd.runtime import views
from failoverd.runtime.probing import BoundProbe
from failoverd.runtime.service import ServiceRunner
from failoverd.store.persist import ServicePersistence
from failoverd.store.records import ServiceRecord
from tests.lab.fakes import MemoryStore, MemorySwitch

pytestmark = pytest.mark.looptime

SERVICE = {
    "primary": "bj",
    "standby": "sh",
    "probes": {
        "primary": [{"tcp": {"host": "127.0.0.1", "port": 1}}],
        "standby": [{"tcp": {"host": "127.0.0.1", "port": 2}}],
    },
    "policy": {
        "interval": "1s",
        "failure_threshold": 2,
        "recovery_threshold": 2,
        "hold_down": "1m",
        "step_attempts": 2,
        "step_timeout": "2s",
    },
    "traffic": {
        "rfc2136": {
            "server": "127.0.0.1:53",
            "zone": "t.",
            "name": "w.t.",
            "primary": ["127.0.0.10"],
            "standby": ["127.0.0.20"],
        }
    },
}


class Health:
    """Switchable health of the two sides, as fake probes read it."""

    def __init__(self) -> None:
        self.up: dict[Side, bool] = {"primary": True, "standby": True}

    def probe(self, side: Side) -> BoundProbe:
        async def look() -> Observation:
            return Observation(self.up[side], 0.001, "up" if self.up[side] else "down")

        return BoundProbe(f"fake-{side}", look, 1.0, cluster=False)


def make_runner(switch: MemorySwitch, health: Health, record: ServiceRecord | None = None):
    cfg = config.ServiceConfig.model_validate(SERVICE)
    record = record or ServiceRecord()
    store = MemoryStore()
    clock = LoopClock()
    metrics, log = Metrics(), structlog.get_logger()
    steps = StepBook("web", cfg, switch, None, clock)  # type: ignore[arg-type]
    runner = ServiceRunner(
        "web",
        cfg,
        record,
        {s: [health.probe(s)] for s in ("primary", "standby")},
        switch,
        steps,
        metrics=metrics,
        persistence=ServicePersistence("web", record, store, metrics, log),
        log=log,
        clock=clock,
    )
    return runner, record, store.saves


async def settle(runner: ServiceRunner) -> None:
    if runner.plans.task is not None:
        await runner.plans.task
    await runner.persistence.flush()


async def test_a_dead_primary_fails_over_after_the_threshold_and_the_switch_moves_once():
    switch, health = MemorySwitch(), Health()
    runner, record, saves = make_runner(switch, health)
    for _ in range(2):
        await runner.round()  # the standby becomes ready
    health.up["primary"] = False
    await runner.round()
    assert record.machine.state == State.PRIMARY_SUSPECT and switch.writes == []
    await runner.round()
    assert record.machine.state == State.FAILING_OVER
    await settle(runner)
    assert record.machine.state == State.STANDBY_ACTIVE and switch.writes == ["standby"]
    assert record.last_failover is not None and record.last_failover.result == "success"
    assert State.FAILING_OVER in saves and saves[-1] == State.STANDBY_ACTIVE
    assert [e.to_state for e in record.history][:2] == ["standby_active", "failing_over"]


async def test_a_failed_plan_whose_switch_landed_settles_on_the_side_the_journal_says():
    switch, health = MemorySwitch(), Health()
    switch.fail_verify = PermanentError("verify broke")
    runner, record, _ = make_runner(switch, health)
    for _ in range(2):
        await runner.round()  # the standby becomes ready
    decision = runner.command("failover", "drill by hand")
    assert not decision.rejected
    await settle(runner)
    assert record.machine.state == State.BLOCKED and record.machine.active == "standby"
    assert record.last_failover is not None and record.last_failover.result == "failed"


async def test_a_rejected_command_changes_nothing_and_says_why():
    switch, health = MemorySwitch(), Health()
    runner, record, saves = make_runner(switch, health)
    decision = runner.command("failback", "")
    assert decision.rejected and "traffic is on the primary" in decision.reason
    assert record.machine == ServiceState() and saves == [] and record.history == []


async def test_at_start_traffic_found_on_the_standby_is_adopted_without_a_write():
    switch, health = MemorySwitch(at="standby"), Health()
    runner, record, _ = make_runner(switch, health)
    await runner.adopt()
    assert record.machine.state == State.STANDBY_ACTIVE and switch.writes == []


async def test_the_loop_keeps_its_interval_and_stops_promptly():
    switch, health = MemorySwitch(), Health()
    runner, _, _ = make_runner(switch, health)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(10.5)
    rounds = runner.rounds
    t0 = loop.time()
    await runner.stop()
    await task
    assert 10 <= rounds <= 11 and loop.time() - t0 < 0.01


async def test_an_upsert_that_landed_then_failed_is_found_where_the_switch_says():
    switch, health = MemorySwitch(), Health()
    switch.fail_after_write = PermanentError("connection reset after the write")
    runner, record, _ = make_runner(switch, health)
    for _ in range(2):
        await runner.round()
    assert not runner.command("failover", "").rejected
    await settle(runner)
    plan = record.last_failover
    assert plan is not None and plan.result == "failed" and not plan.step_done("switch")
    assert record.machine.active == "standby", "the switch says the write landed"
    assert record.machine.last_move_at is not None, "a switch that started counts for hold_down"


async def test_a_manual_move_to_a_side_that_is_not_ready_is_refused_unless_forced():
    switch, health = MemorySwitch(), Health()
    health.up["standby"] = False
    runner, record, _ = make_runner(switch, health)
    for _ in range(3):
        await runner.round()
    refused = runner.command("failover", "")
    assert refused.rejected and "not ready" in refused.reason and switch.writes == []
    forced = runner.command("failover", "standby is fine, the probe is wrong", force=True)
    assert not forced.rejected
    await settle(runner)
    assert switch.writes == ["standby"] and record.last_failover.forced


async def test_a_full_disk_does_not_stop_the_rounds_and_the_plan_waits_for_it():
    switch, health = MemorySwitch(), Health()
    runner, record, saves = make_runner(switch, health)
    store = runner.persistence.store
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(3)  # the standby becomes ready
    store.broken = OSError(28, "No space left on device")
    health.up["primary"] = False
    await asyncio.sleep(5)
    assert record.machine.state == State.FAILING_OVER and switch.writes == []
    assert runner.rounds >= 7, "rounds go on while the disk is full"
    problems = runner.health(loop.time())
    assert problems and "No space left on device" in problems[0]
    store.broken = None  # the disk has room again
    await asyncio.sleep(15)
    assert switch.writes == ["standby"] and record.machine.state == State.STANDBY_ACTIVE
    assert saves[-1] == State.STANDBY_ACTIVE and runner.health(loop.time()) == []
    await runner.stop()
    await task


async def test_a_round_that_raises_is_logged_and_counted_and_the_loop_goes_on():
    switch, health = MemorySwitch(), Health()
    runner, _, _ = make_runner(switch, health)
    calls = 0
    real_round = runner.round

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("a bug in one round")
        await real_round()

    runner.round = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(5.5)
    await runner.stop()
    await task
    assert calls >= 5 and runner.rounds == calls - 1
    assert runner.metrics.round_errors.labels("web")._value.get() == 1


async def test_a_plan_started_by_the_last_round_before_a_reload_runs_to_the_end():
    switch, health = MemorySwitch(), Health()
    runner, record, _ = make_runner(switch, health)
    for _ in range(2):
        await runner.round()
    health.up["primary"] = False
    await runner.round()
    runner.loop_stopping.set()  # SIGHUP arrives while the next round decides
    await runner.round()  # that round starts the failover
    assert record.machine.state == State.FAILING_OVER
    await settle(runner)
    assert switch.writes == ["standby"] and record.machine.state == State.STANDBY_ACTIVE
    assert record.plan is None and record.last_failover.result == "success"


def test_every_blocked_reason_says_what_clears_it():
    from failoverd.machine import Blocked
    from failoverd.runtime.service import CLEARS_WHEN

    assert set(CLEARS_WHEN) == set(Blocked)


async def test_with_a_suspect_interval_the_outage_is_confirmed_in_interval_plus_two_short_rounds():
    switch, health = MemorySwitch(), Health()
    runner, _, _ = make_runner(switch, health)
    runner.policy = replace(runner.policy, interval=1.0, suspect_interval=0.2)
    loop = asyncio.get_running_loop()
    decided = asyncio.Event()
    runner.audit = lambda who, action, *a, **k: (
        decided.set() if action == "failover_started" else None
    )
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(3.05)  # ready, on the 1 s cadence
    health.up["primary"] = False
    t0 = loop.time()
    await decided.wait()
    detected = loop.time() - t0
    await runner.stop()
    await task
    await settle(runner)
    assert detected <= 1.0 + 2 * 0.2 + 0.05, detected
    assert detected > 0.35, "two fast rounds after the first failed one"


async def test_a_proposal_shows_the_last_drills_verdict_and_rto():
    from failoverd.store.records import DrillRecord

    switch, health = MemorySwitch(), Health()
    runner, record, _ = make_runner(switch, health)
    record.drills = [
        DrillRecord(
            "d2",
            "web",
            "readiness",
            "",
            2.0,
            outcome="passed",
            finished=3.0,
            projected_rto_seconds=6.5,
        ),
        DrillRecord("d1", "web", "full", "", 1.0, outcome="failed", finished=1.5, rto_seconds=9.0),
    ]
    last = views.proposal(runner.policy, record, runner.seen(), 10.0)["last_drill"]
    assert last == {
        "id": "d2",
        "kind": "readiness",
        "outcome": "passed",
        "finished": 3.0,
        "rto_seconds": 6.5,
    }
