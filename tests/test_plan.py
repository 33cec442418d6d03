"""The journaled plan: steps in order, retried, resumable, never re-run once done."""

from __future__ import annotations

import asyncio
import copy

import pytest

from failoverd.kit.clock import LoopClock
from failoverd.kit.errors import PermanentError, TransientError
from failoverd.machine import StartPlan
from failoverd.plans.runner import PlanRecord, PlanRunner, RetryPolicy, Step
from failoverd.store.codec import plan_from_dict, plan_to_dict

pytestmark = pytest.mark.looptime


class Recorder:
    """Step functions that record their calls; `fail` maps a step to errors to raise in turn."""

    def __init__(self, fail: dict[str, list[Exception]] | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail or {}
        self.journal: list[dict] = []

    def step(self, name: str):
        async def run(plan: PlanRecord, step: Step) -> None:
            self.calls.append(name)
            errors = self.fail.get(name)
            if errors:
                raise errors.pop(0)

        return run

    async def persist(self, plan: PlanRecord) -> None:
        self.journal.append(copy.deepcopy(plan_to_dict(plan)))


def new_plan(*names: str) -> PlanRecord:
    action = StartPlan("failover", "auto", "standby", "test", outage_started=0.0)
    return PlanRecord.new(action, [Step(n) for n in names], now=0.0)


def runner(rec: Recorder, names: tuple[str, ...], **kw) -> PlanRunner:
    return PlanRunner({n: rec.step(n) for n in names}, rec.persist, LoopClock(), **kw)


NAMES = ("fence", "switch", "verify")


async def test_steps_run_in_order_and_the_journal_brackets_each_step():
    rec = Recorder()
    plan = await runner(rec, NAMES).run(new_plan(*NAMES))
    assert rec.calls == list(NAMES) and plan.result == "success"
    statuses = [[s["status"] for s in j["steps"]] for j in rec.journal]
    assert statuses[:2] == [["running", "pending", "pending"], ["done", "pending", "pending"]]
    assert rec.journal[-1]["result"] == "success"


async def test_transient_errors_are_retried_with_backoff_and_counted():
    rec = Recorder({"switch": [TransientError("timeout"), TransientError("timeout")]})
    plan = await runner(rec, NAMES, retry=RetryPolicy(attempts=5)).run(new_plan(*NAMES))
    assert plan.result == "success"
    switch = plan.steps[1]
    assert (switch.attempts, switch.status) == (3, "done")
    assert rec.calls == ["fence", "switch", "switch", "switch", "verify"]


async def test_a_permanent_error_fails_the_plan_at_once_and_later_steps_never_run():
    rec = Recorder({"switch": [PermanentError("REFUSED")]})
    plan = await runner(rec, NAMES).run(new_plan(*NAMES))
    assert (plan.result, plan.error) == ("failed", "switch: REFUSED")
    assert plan.steps[1].attempts == 1 and plan.steps[2].status == "pending"
    assert "verify" not in rec.calls


async def test_attempts_are_bounded():
    rec = Recorder({"switch": [TransientError("down")] * 10})
    plan = await runner(rec, NAMES, retry=RetryPolicy(attempts=4)).run(new_plan(*NAMES))
    assert plan.result == "failed" and plan.steps[1].attempts == 4


async def test_a_step_that_hangs_times_out_per_attempt():
    async def hang(plan: PlanRecord, step: Step) -> None:
        await asyncio.Event().wait()

    rec = Recorder()
    r = PlanRunner(
        {"switch": hang},
        rec.persist,
        LoopClock(),
        RetryPolicy(attempts=2, timeout=3),
    )
    plan = await r.run(new_plan("switch"))
    assert plan.result == "failed" and "no result within 3s" in plan.error


async def test_a_best_effort_step_that_fails_does_not_fail_the_plan():
    rec = Recorder({"fence": [PermanentError("primary unreachable")]})
    plan = new_plan(*NAMES)
    plan.steps[0].best_effort = True
    plan = await runner(rec, NAMES).run(plan)
    assert plan.result == "success" and plan.steps[0].status == "failed"
    assert rec.calls == ["fence", "switch", "verify"]


async def test_a_resumed_plan_reruns_only_the_step_in_flight():
    # the journal as a crash during `switch` leaves it
    crashed = new_plan(*NAMES)
    crashed.steps[0].status = "done"
    crashed.steps[1].status = "running"
    resumed = plan_from_dict(plan_to_dict(crashed))
    rec = Recorder()
    plan = await runner(rec, NAMES).run(resumed)
    assert rec.calls == ["switch", "verify"] and plan.result == "success"


async def test_a_finished_plan_is_not_run_again():
    rec = Recorder()
    plan = await runner(rec, NAMES).run(new_plan(*NAMES))
    finished = plan.finished
    again = await runner(rec, NAMES).run(plan_from_dict(plan_to_dict(plan)))
    assert rec.calls == list(NAMES) and again.finished == finished


async def test_stopping_finishes_the_step_in_flight_then_leaves_the_plan_running():
    stopping = asyncio.Event()
    rec = Recorder()

    async def slow_switch(plan: PlanRecord, step: Step) -> None:
        stopping.set()  # SIGTERM arrives during the step
        await asyncio.sleep(2)
        rec.calls.append("switch")

    r = PlanRunner(
        {"switch": slow_switch, "verify": rec.step("verify")},
        rec.persist,
        LoopClock(),
        stopping=stopping,
    )
    plan = await r.run(new_plan("switch", "verify"))
    assert plan.result == "running"
    assert [s.status for s in plan.steps] == ["done", "pending"]
    assert rec.journal[-1]["steps"][0]["status"] == "done"
