"""One service at run time: its probes, its traffic switch, its round loop and its plans.

The runner reads the world (a round of probes), hands it to the pure machine, and applies the
decision it gets back: persist, log the transition with its reason, update metrics, start a
plan. It knows nothing of the other services, the API or signals: daemon.py wires those.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from failoverd import config, machine, probes
from failoverd.api import CommandResult
from failoverd.durations import next_deadline
from failoverd.machine import Decision, ServiceState, Side, StartPlan, State
from failoverd.metrics import Metrics
from failoverd.plan import PlanRecord, PlanRunner, RetryPolicy, Step
from failoverd.replication.scheduler import Scheduler
from failoverd.steps import StepBook
from failoverd.store import ServiceRecord
from failoverd.traffic import Switch

SIDES: tuple[Side, Side] = ("primary", "standby")


@dataclass(frozen=True)
class BoundProbe:
    label: str
    probe: probes.Probe
    timeout: float
    cluster: bool


def policy_of(cfg: config.ServiceConfig) -> machine.Policy:
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
        self,
        name: str,
        cfg: config.ServiceConfig,
        record: ServiceRecord,
        bound: dict[Side, list[BoundProbe]],
        switch: Switch,
        steps: StepBook,
        *,
        metrics: Metrics,
        persist: Callable[[], None],
        log: Any,
        clock: Callable[[], float] = time.time,
        notify: Callable[[str, str, str], None] = lambda service, event, message: None,
        replication: Scheduler | None = None,
    ) -> None:
        self.name, self.cfg, self.record = name, cfg, record
        self.replication = replication
        self.policy = policy_of(cfg)
        self.bound, self.switch, self.steps = bound, switch, steps
        self.metrics, self.persist, self.clock, self.notify = metrics, persist, clock, notify
        self.log = log.bind(service=name)
        self.last_round: dict[Side, list[dict[str, Any]]] = {"primary": [], "standby": []}
        self.rounds = 0
        self.plan_task: asyncio.Task[None] | None = None
        self.stopping = asyncio.Event()
        self.metrics.set_state(name, record.machine.state, record.machine.active)

    # ----------------------------------------------------------------- the round loop

    async def run(self) -> None:
        """Probe every `interval` on monotonic deadlines until stop(); missed ticks are skipped.

        Each service keeps a phase of its own within the interval (stable per service name, the
        first round waits for it), so that many services do not all probe in the same instant:
        bursts would queue at the targets and in the loop and show up as interval jitter.
        """
        loop = asyncio.get_running_loop()
        interval = self.cfg.policy.interval
        phase = zlib.crc32(self.name.encode()) % 1000 / 1000 * interval
        deadline = loop.time() + phase
        jobs = asyncio.create_task(self.replication.run()) if self.replication else None
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), phase)
            while not self.stopping.is_set():
                await self.round()
                now = loop.time()
                deadline = next_deadline(deadline, interval, now)
                try:
                    await asyncio.wait_for(self.stopping.wait(), deadline - now)
                except TimeoutError:
                    pass
        finally:
            if jobs is not None:
                jobs.cancel()
                await asyncio.gather(jobs, return_exceptions=True)

    async def round(self) -> Decision:
        """Run every probe of both sides concurrently, then decide."""
        everything = [(side, bp) for side in SIDES for bp in self.bound[side]]
        results = await asyncio.gather(*(self._observe(bp) for _, bp in everything))
        seen: dict[Side, list[machine.ProbeResult]] = {"primary": [], "standby": []}
        last: dict[Side, list[dict[str, Any]]] = {"primary": [], "standby": []}
        for (side, bp), obs in zip(everything, results, strict=True):
            seen[side].append(machine.ProbeResult(obs.ok, cluster=bp.cluster))
            last[side].append(
                {
                    "probe": bp.label,
                    "ok": obs.ok,
                    "latency": round(obs.latency, 6),
                    "reason": obs.detail,
                }
            )
            self.metrics.probe_up.labels(self.name, side, bp.label).set(1 if obs.ok else 0)
            self.metrics.probe_duration.labels(self.name, side, bp.label).observe(obs.latency)
        self.last_round = last
        self.rounds += 1
        rnd = machine.Round(tuple(seen["primary"]), tuple(seen["standby"]))
        before = self.record.machine
        decision = machine.on_round(before, rnd, self.clock(), self.policy)
        self.apply(decision)
        if self.rounds == 1:
            self.log.info("first_round", **{side: [r["ok"] for r in last[side]] for side in SIDES})
        for side in SIDES:
            was, now = (
                machine.ready(before, side, self.policy),
                machine.ready(decision.state, side, self.policy),
            )
            if was != now:
                reasons = [f"{r['probe']}: {r['reason']}" for r in last[side] if not r["ok"]]
                self.log.info("side_ready" if now else "side_not_ready", side=side, reasons=reasons)
        return decision

    async def _observe(self, bp: BoundProbe) -> probes.Observation:
        # A probe enforces its own timeout; this is the backstop against one that does not.
        try:
            return await asyncio.wait_for(bp.probe(), bp.timeout + 1.0)
        except TimeoutError:
            return probes.Observation(False, bp.timeout + 1.0, "probe did not return")
        except Exception as e:  # a probe bug must not stop the loop
            self.log.exception("probe_crashed", probe=bp.label)
            return probes.Observation(False, 0.0, f"probe error: {type(e).__name__}")

    # ----------------------------------------------------------------- applying decisions

    def apply(self, decision: Decision) -> None:
        before, after = self.record.machine, decision.state
        self.record.machine = after
        if (before.state, before.active, before.blocked) != (
            after.state,
            after.active,
            after.blocked,
        ):
            self.record.add_event(
                {
                    "time": self.clock(), "service": self.name, "from": before.state.value,
                    "to": after.state.value, "active": after.active, "reason": decision.reason,
                }
            )  # fmt: skip
            self.log.info("transition", **{"from": before.state.value, "to": after.state.value},
                          active=after.active, reason=decision.reason)  # fmt: skip
            self.metrics.set_state(self.name, after.state, after.active)
            self.persist()
        for action in decision.actions:
            if isinstance(action, StartPlan):
                self.start_plan(action)
            else:
                self.log.warning("notify", notify_event=action.event, message=action.message)
                self.notify(self.name, action.event, action.message)

    def command(self, verb: machine.Command, reason: str) -> CommandResult:
        decision = machine.on_command(self.record.machine, verb, self.clock(), reason)
        if decision.rejected:
            return CommandResult(409, decision.reason)
        self.apply(decision)
        return CommandResult(202, decision.reason)

    # ----------------------------------------------------------------- plans

    def start_plan(self, action: StartPlan) -> None:
        plan = PlanRecord.new(action, self.steps.steps_for(action.kind), self.clock())
        self.log.warning("plan_start", plan=plan.id, kind=plan.kind, trigger=plan.trigger,
                         target=plan.target, to=self.switch.describe(plan.target), reason=plan.reason)  # fmt: skip
        self.record.plan = plan.to_dict()
        self.persist()
        self.resume_plan(plan)

    def resume_plan(self, plan: PlanRecord) -> None:
        self.plan_task = asyncio.create_task(
            self._run_plan(plan), name=f"plan-{self.name}-{plan.id}"
        )

    async def _run_plan(self, plan: PlanRecord) -> None:
        runner = PlanRunner(
            steps=self.steps.functions(),
            persist=self._persist_plan,
            clock=self.clock,
            retry=RetryPolicy(
                attempts=self.cfg.policy.step_attempts, timeout=self.cfg.policy.step_timeout
            ),
            on_step=self._step_done,
            on_start=self._step_start,
            stopping=self.stopping,
            overrides=self.steps.overrides(plan.kind),
        )
        await runner.run(plan)
        if plan.result == "running":  # stopped between steps: the journal resumes it next start
            return
        self.record.plan = None
        self.record.last_failover = plan.to_dict()
        self.metrics.failovers.labels(self.name, plan.trigger, plan.result).inc()
        if plan.rto_seconds is not None:
            self.metrics.last_rto.labels(self.name).set(plan.rto_seconds)
        if plan.rpo_seconds is not None:
            self.metrics.last_rpo.labels(self.name).set(plan.rpo_seconds)
        ok = plan.result == "success"
        active = plan.target if ok or plan.step_done("switch") else plan.source
        log = self.log.info if ok else self.log.error
        log(
            "plan_done",
            plan=plan.id,
            kind=plan.kind,
            trigger=plan.trigger,
            result=plan.result,
            rto_seconds=plan.rto_seconds,
            rpo_seconds=plan.rpo_seconds,
            error=plan.error,
        )
        self.apply(
            machine.on_plan_done(self.record.machine, ok, active, self.clock(), plan.error or "")
        )

    def _persist_plan(self, plan: PlanRecord) -> None:
        self.record.plan = plan.to_dict()
        self.persist()

    def _step_start(self, plan: PlanRecord, step: Step) -> None:
        self.log.info("plan_step_start", plan=plan.id, kind=plan.kind, step=step.name)

    def _step_done(self, plan: PlanRecord, step: Step) -> None:
        if step.duration_seconds is not None:
            self.metrics.plan_step_duration.labels(self.name, step.name).observe(
                step.duration_seconds
            )
        log = self.log.info if step.status == "done" else self.log.warning
        log("plan_step", plan=plan.id, step=step.name, status=step.status, attempts=step.attempts,
            duration_seconds=step.duration_seconds, error=step.error)  # fmt: skip

    # ----------------------------------------------------------------- start-up

    async def adopt(self) -> None:
        """Resume a journaled plan, or adopt the side the traffic switch points at now."""
        if self.record.plan is not None:
            plan = PlanRecord.from_dict(self.record.plan)
            self.log.warning("plan_resume", plan=plan.id, kind=plan.kind,
                             steps={s.name: s.status for s in plan.steps})  # fmt: skip
            self.resume_plan(plan)
            return
        try:
            current = await self.switch.current()
        except Exception as e:
            self.log.warning("adopt_failed", error=str(e), active=self.record.machine.active)
            return
        st = self.record.machine
        if current is not None and current != st.active:
            reason = f"traffic already points at the {current}: adopting it"
            adopted = ServiceState.settled(current, st.last_move_at)
            if st.state == State.PAUSED:
                adopted = replace(adopted, state=State.PAUSED)
            self.apply(Decision(adopted, (), reason))

    async def stop(self) -> None:
        """Stop the loop; a plan finishes its step in flight and is journaled for resumption."""
        self.stopping.set()
        if self.plan_task is not None:
            await asyncio.shield(self.plan_task)

    # ----------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        st = self.record.machine
        return {
            "state": st.state.value,
            "active": st.active,
            "mode": self.cfg.mode,
            "blocked": st.blocked.value if st.blocked else None,
            "ready": {side: machine.ready(st, side, self.policy) for side in SIDES},
            "probes": self.last_round,
            "replication": self.replication.status() if self.replication else {},
            "plan": self.record.plan,
            "last_failover": self.record.last_failover,
        }
