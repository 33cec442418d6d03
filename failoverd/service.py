"""One service at run time: reads the world, asks the machine, applies what it decides.

The runner drives the round cadence (rounds.py), hands each round to the pure machine, and
applies the decision it gets back: record the transition, persist, log it with its reason,
update the metrics, start a plan (lifecycle.py). It knows nothing of the other services, the
API or signals: daemon.py wires those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from failoverd import machine, rounds
from failoverd.clock import SYSTEM, Clock
from failoverd.config import ServiceConfig
from failoverd.lifecycle import PlanLifecycle
from failoverd.logs import Logger
from failoverd.machine import SIDES, Decision, Side, StartPlan
from failoverd.metrics import Metrics
from failoverd.replication.scheduler import Scheduler
from failoverd.rounds import BoundProbe, ProbeReport
from failoverd.steps import StepBook
from failoverd.store.codec import plan_to_dict
from failoverd.store.records import Event, ServiceRecord
from failoverd.traffic.base import Switch


def policy_of(cfg: ServiceConfig) -> machine.Policy:
    p = cfg.policy
    return machine.Policy(
        failure_threshold=p.failure_threshold,
        recovery_threshold=p.recovery_threshold,
        quorum=p.quorum,
        auto_failback=p.auto_failback,
        hold_down=p.hold_down,
        mode=cfg.mode,
    )


class ServiceRunner:
    def __init__(
        self, name: str, cfg: ServiceConfig, record: ServiceRecord,
        bound: dict[Side, list[BoundProbe]], switch: Switch, steps: StepBook, *,
        metrics: Metrics, persist: Callable[[], None], log: Logger, clock: Clock = SYSTEM,
        notify: Callable[[str, str, str], None] = lambda service, event, message: None,
        replication: Scheduler | None = None,
    ) -> None:  # fmt: skip
        self.name, self.cfg, self.record = name, cfg, record
        self.replication = replication
        self.policy = policy_of(cfg)
        self.bound, self.switch = bound, switch
        self.metrics, self.persist, self.clock, self.notify = metrics, persist, clock, notify
        self.log = log.bind(service=name)
        self.last_round: dict[Side, list[ProbeReport]] = {"primary": [], "standby": []}
        self.rounds = 0
        self.stopping = asyncio.Event()
        self.plans = PlanLifecycle(
            name, cfg, record, switch, steps, metrics=metrics, log=self.log, clock=clock,
            persist=persist, apply=self.apply, stopping=self.stopping,
        )  # fmt: skip
        self.metrics.set_state(name, record.machine.state, record.machine.active)

    # ----------------------------------------------------------------- the round loop

    async def run(self) -> None:
        """Probe every `interval` until stop(), with the replication jobs alongside."""
        interval = self.cfg.policy.interval
        jobs = asyncio.create_task(self.replication.run()) if self.replication else None
        try:
            await rounds.every(
                interval, rounds.phase(self.name, interval), self.stopping, self._tick
            )
        finally:
            if jobs is not None:
                jobs.cancel()
                await asyncio.gather(jobs, return_exceptions=True)

    async def _tick(self) -> None:
        await self.round()

    async def round(self) -> Decision:
        """Run every probe of both sides concurrently, then decide."""
        seen = await rounds.observe(self.name, self.bound, self.metrics, self._probe_crashed)
        self.last_round = seen.reports
        self.rounds += 1
        before = self.record.machine
        decision = machine.on_round(before, seen.round, self.clock.wall(), self.policy)
        self.apply(decision)
        if self.rounds == 1:
            self.log.info("first_round", **{s: [r.ok for r in seen.reports[s]] for s in SIDES})
        for side in SIDES:
            was = machine.ready(before, side, self.policy)
            now = machine.ready(decision.state, side, self.policy)
            if was != now:
                reasons = [f"{r.probe}: {r.reason}" for r in seen.reports[side] if not r.ok]
                self.log.info("side_ready" if now else "side_not_ready", side=side, reasons=reasons)
        return decision

    def _probe_crashed(self, label: str) -> None:
        self.log.exception("probe_crashed", probe=label)

    # ----------------------------------------------------------------- applying decisions

    def apply(self, decision: Decision) -> None:
        """Record, persist, log and count a transition; run the decision's actions."""
        before, after = self.record.machine, decision.state
        self.record.machine = after
        if (before.state, before.active, before.blocked) != (
            after.state,
            after.active,
            after.blocked,
        ):
            self.record.add_event(Event(self.clock.wall(), self.name, before.state.value,
                                        after.state.value, after.active, decision.reason))  # fmt: skip
            self.log.info("transition", **{"from": before.state.value, "to": after.state.value},
                          active=after.active, reason=decision.reason)  # fmt: skip
            self.metrics.set_state(self.name, after.state, after.active)
            self.persist()
        for action in decision.actions:
            if isinstance(action, StartPlan):
                self.plans.start(action)
            else:
                self.log.warning("notify", notify_event=action.event, message=action.message)
                self.notify(self.name, action.event, action.message)

    def command(self, verb: machine.Command, reason: str) -> Decision:
        """An operator's command: the machine's decision, applied unless it was rejected."""
        decision = machine.on_command(self.record.machine, verb, self.clock.wall(), reason)
        if not decision.rejected:
            self.apply(decision)
        return decision

    # ----------------------------------------------------------------- start and stop

    async def adopt(self) -> None:
        """Resume a journaled plan, or let the machine adopt where the traffic points now."""
        if self.record.plan is not None:
            plan = self.record.plan
            self.log.warning("plan_resume", plan=plan.id, kind=plan.kind,
                             steps={s.name: s.status for s in plan.steps})  # fmt: skip
            self.plans.resume(plan)
            return
        try:
            current = await self.switch.current()
        except Exception as e:
            self.log.warning("adopt_failed", error=str(e), active=self.record.machine.active)
            return
        self.apply(machine.on_adopt(self.record.machine, current))

    async def stop(self) -> None:
        """Stop the loop; a plan finishes its step in flight and is journaled for resumption."""
        self.stopping.set()
        await self.plans.wait()

    # ----------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        st = self.record.machine
        return {
            "state": st.state.value,
            "active": st.active,
            "mode": self.cfg.mode,
            "blocked": st.blocked.value if st.blocked else None,
            "ready": {side: machine.ready(st, side, self.policy) for side in SIDES},
            "probes": {s: [r.as_dict() for r in self.last_round[s]] for s in SIDES},
            "replication": self.replication.status() if self.replication else {},
            "plan": plan_to_dict(self.record.plan) if self.record.plan else None,
            "last_failover": (
                plan_to_dict(self.record.last_failover) if self.record.last_failover else None
            ),
        }
