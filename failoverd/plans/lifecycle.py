"""The life of one service's plans: start one, resume a journaled one, close it when it ends.

The plan runner (plan.py) runs the steps; this module is the part around it that the service
needs: journaling the plan in the service's record, logging each step, metrics, and handing the
outcome back to the machine (`on_plan_done`), which settles the service on the side the traffic
is on (`active_after_plan`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from failoverd import machine
from failoverd.clients.dns import resolve
from failoverd.config import ServiceConfig
from failoverd.config.common import host_port
from failoverd.kit.clock import Clock
from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.kit.tasks import TaskGuard
from failoverd.machine import Decision, Side, StartPlan
from failoverd.notify import Emit, no_emit
from failoverd.plans.runner import PlanRunner, RetryPolicy
from failoverd.plans.steps import StepBook
from failoverd.store.persist import ServicePersistence
from failoverd.store.records import PlanRecord, ServiceRecord, Step
from failoverd.traffic.base import Switch


class PlanLifecycle:
    """Starts, resumes and closes the plans of one service; at most one runs at a time."""

    def __init__(
        self,
        name: str,
        cfg: ServiceConfig,
        record: ServiceRecord,
        switch: Switch,
        steps: StepBook,
        *,
        metrics: Metrics,
        log: Logger,
        clock: Clock,
        persistence: ServicePersistence,
        apply: Callable[[Decision], None],
        stopping: asyncio.Event,
        before_plan: Callable[[], Awaitable[None]] | None = None,
        notify: Emit = no_emit,
        give_way: Callable[[PlanRecord], Awaitable[None]] | None = None,
        guard: TaskGuard | None = None,
    ) -> None:
        self.guard = guard or TaskGuard(metrics, log)
        self.name, self.cfg, self.record, self.switch, self.steps = name, cfg, record, switch, steps
        self.metrics, self.log, self.clock = metrics, log, clock
        self.persistence, self.apply, self.stopping = persistence, apply, stopping
        self.before_plan, self.notify, self.give_way = before_plan, notify, give_way
        self.task: asyncio.Task[None] | None = None
        self.gate: Callable[[float], Awaitable[None]] | None = None  # the leader's lease, if any
        self.clients: asyncio.Task[None] | None = None  # the client-seen RTO being measured

    def start(self, action: StartPlan) -> None:
        plan = PlanRecord.new(action, self.steps.steps_for(action.kind), self.clock.wall())
        self.log.warning(
            "plan_start",
            plan=plan.id,
            kind=plan.kind,
            trigger=plan.trigger,
            target=plan.target,
            to=self.switch.describe(plan.target),
            reason=plan.reason,
        )
        self.record.plan = plan  # journaled with the state that says failing_over, in one save
        self.notify(
            f"{plan.kind}_started",
            self.name,
            f"{plan.kind} started: {plan.reason}",
            {
                "plan": plan.id,
                "trigger": plan.trigger,
                "from": plan.source,
                "to": plan.target,
                "reason": plan.reason,
                "forced": plan.forced,
                "target": self.switch.describe(plan.target),
            },
        )
        self.resume(plan)

    def resume(self, plan: PlanRecord) -> None:
        # named by service, not plan: a plan that died is a problem until the next one runs
        self.task = self.guard.spawn(
            self._run(plan), f"plan-{self.name}", expected=self.stopping.is_set
        )

    async def wait(self) -> None:
        """Wait for the plan in flight (if any) to finish its step and return."""
        if self.task is not None:
            await asyncio.shield(self.task)

    async def _run(self, plan: PlanRecord) -> None:
        await self.persistence.durable()  # no step runs before its journal is on disk
        if self.give_way is not None:
            await self.give_way(plan)  # a drill in flight stops before the first step
        if self.before_plan is not None:
            await self.before_plan()  # e.g. stop replication writing into the side being promoted
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
            gate=self.gate,
        )
        await runner.run(plan)
        if plan.result == "running":  # stopped between steps: the journal resumes it next start
            return
        await self._close(plan)

    async def _close(self, plan: PlanRecord) -> None:
        self.record.plan = None
        self.record.last_failover = plan
        self.metrics.failovers.labels(self.name, plan.trigger, plan.result).inc()
        if plan.rto_seconds is not None:
            self.metrics.last_rto.labels(self.name).set(plan.rto_seconds)
        if plan.rpo_seconds is not None:
            self.metrics.last_rpo.labels(self.name).set(plan.rpo_seconds)
        ok = plan.result == "success"
        switch = plan.step("switch")
        moved = switch is not None and switch.status != "pending"
        observed = await self._observed() if moved and not ok else None
        active = machine.active_after_plan(
            plan.source, plan.target, ok, plan.step_done("switch"), observed
        )
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
            active=active,
        )
        self.notify(
            f"{plan.kind}_{'finished' if ok else 'failed'}",
            self.name,
            _headline(plan, active),
            _plan_details(plan, active),
        )
        decision = machine.on_plan_done(
            self.record.machine, ok, active, self.clock.wall(), plan.error or "", moved=moved
        )
        self.apply(decision)
        if ok and plan.kind == "failover" and self.cfg.verify is not None:
            if self.clients is not None:
                self.clients.cancel()  # the last failover's measurement gives way to this one's
            self.clients = self.guard.spawn(
                self.client_rto(plan), f"client-rto-{self.name}", critical=False
            )

    async def client_rto(self, plan: PlanRecord) -> None:
        """Poll each listed resolver until it answers the moved record: the client-seen RTO.

        A resolver that still answers the old values after `within` is named, a warning, not a
        failed failover: its users wait for its cache, and the operators should know.
        """
        verify, traffic = self.cfg.verify, self.cfg.traffic
        assert verify is not None and traffic is not None
        record = traffic.rfc2136 or traffic.route53
        assert record is not None
        want = sorted(v.lower().rstrip(".") for v in record.values(plan.target))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + verify.within
        pending = {r: host_port(r, 53) for r in verify.resolvers}
        converged_at: float | None = None
        while pending and loop.time() < deadline:
            for name, (host, port) in list(pending.items()):
                got = await resolve(host, port, record.name, record.type, min(1.0, verify.poll))
                if got is not None and sorted(v.lower().rstrip(".") for v in got) == want:
                    del pending[name]
                    converged_at = self.clock.wall()
            if pending:
                await asyncio.sleep(verify.poll)
        plan.unconverged = sorted(pending)
        if converged_at is not None and not pending:
            plan.client_rto_seconds = round(converged_at - plan.outage_started, 3)
            self.metrics.last_client_rto.labels(self.name).set(plan.client_rto_seconds)
        if self.record.last_failover is not None and self.record.last_failover.id == plan.id:
            self.record.last_failover = plan
            self.persistence.request()
        (self.log.warning if pending else self.log.info)(
            "client_rto",
            plan=plan.id,
            client_rto_seconds=plan.client_rto_seconds,
            rto_seconds=plan.rto_seconds,
            unconverged=plan.unconverged,
        )

    async def _observed(self) -> Side | None:
        """Where the switch says traffic is after a failed plan (None: it did not answer).

        An UPSERT can land and then time out: the journal alone cannot say where users are.
        """
        try:
            async with asyncio.timeout(self.switch.switch_timeout + 5.0):
                return await self.switch.current()
        except Exception as e:
            self.log.warning(
                "switch_read_failed",
                error=str(e) or type(e).__name__,
                detail="assuming what the plan's journal says",
            )
            return None

    async def _persist_plan(self, plan: PlanRecord) -> None:
        self.record.plan = plan
        await self.persistence.durable()

    def _step_start(self, plan: PlanRecord, step: Step) -> None:
        self.log.info("plan_step_start", plan=plan.id, kind=plan.kind, step=step.name)

    def _step_done(self, plan: PlanRecord, step: Step) -> None:
        if step.duration_seconds is not None:
            self.metrics.plan_step_duration.labels(self.name, step.name).observe(
                step.duration_seconds
            )
        log = self.log.info if step.status == "done" else self.log.warning
        log(
            "plan_step",
            plan=plan.id,
            step=step.name,
            status=step.status,
            attempts=step.attempts,
            duration_seconds=step.duration_seconds,
            error=step.error,
        )


def _headline(plan: PlanRecord, active: Side) -> str:
    if plan.result == "success":
        rto = f" in {plan.rto_seconds:.1f}s" if plan.rto_seconds is not None else ""
        return f"{plan.kind} finished: traffic on the {active}{rto}"
    return f"{plan.kind} FAILED: {plan.error}; traffic on the {active}"


def _plan_details(plan: PlanRecord, active: Side) -> dict[str, object]:
    failed = next((s for s in plan.steps if s.status == "failed" and not s.best_effort), None)
    return {
        "plan": plan.id,
        "trigger": plan.trigger,
        "from": plan.source,
        "to": plan.target,
        "active": active,
        "rto_seconds": plan.rto_seconds,
        "rpo_seconds": plan.rpo_seconds,
        "rpo_jobs": plan.rpo_jobs,
        "forced": plan.forced,
        "failed_step": failed.name if failed else None,
        "error": plan.error,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "duration_seconds": s.duration_seconds,
                "attempts": s.attempts,
                "error": s.error,
            }
            for s in plan.steps
        ],
    }
