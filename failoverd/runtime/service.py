"""One service at run time: reads the world, asks the machine, applies what it decides.

The runner drives the round cadence (kit/cadence.py, runtime/probing.py), hands each round to the pure machine, and
applies the decision it gets back: record the transition, persist, log it with its reason,
update the metrics, start a plan (lifecycle.py). It knows nothing of the other services, the
API or signals: daemon.py wires those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from failoverd import machine
from failoverd.config import ServiceConfig
from failoverd.kit import cadence
from failoverd.kit.clock import SYSTEM, Clock
from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.kit.tasks import TaskGuard
from failoverd.machine import SIDES, Blocked, Decision, ServiceState, Side, StartPlan
from failoverd.notify import Emit, no_emit
from failoverd.plans.lifecycle import PlanLifecycle
from failoverd.plans.steps import StepBook
from failoverd.replication.scheduler import Scheduler
from failoverd.runtime import probing, views
from failoverd.runtime.probing import BoundProbe, ProbeReport
from failoverd.store.persist import ServicePersistence
from failoverd.store.records import Event, PlanRecord, ServiceRecord
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
        observe_only=bool(cfg.observe_only),
        automation=p.automation,
        interval=p.interval,
        suspect_interval=p.suspect_interval,
        approval_timeout=p.approval_timeout,
        on_timeout=p.on_timeout,
    )


CLEARS_WHEN = {
    Blocked.STANDBY_NOT_READY: "the standby is ready (then it fails over), or the primary recovers",
    Blocked.HOLD_DOWN: "hold_down has passed (then it fails over), or the primary recovers",
    Blocked.PLAN_FAILED: "an operator acts: failoverd resume, failover or failback",
    Blocked.SWITCH_UNKNOWN: "the traffic switch answers again",
    Blocked.AUTOMATION_OFF: "the primary recovers, or an operator moves it (automation is off)",
    Blocked.REJECTED: "the primary recovers (an operator rejected the failover)",
}


def _details(event: str, before: ServiceState, after: ServiceState, reason: str) -> dict[str, Any]:
    """What an operator needs with a machine's notification."""
    details: dict[str, Any] = {"state": after.state.value, "active": after.active, "reason": reason}
    if event == "blocked" and after.blocked is not None:
        details |= {
            "blocked": after.blocked.value,
            "clears_when": CLEARS_WHEN.get(after.blocked, "an operator acts"),
        }
    if event == "blocked_cleared" and before.blocked is not None:
        details["was"] = before.blocked.value
    if event == "forced_move":
        details["trigger"] = "manual"
    if event == "failover_proposed":
        details["how"] = "failoverd approve SERVICE runs it; failoverd reject SERVICE drops it"
    return details


class ServiceRunner:
    def __init__(
        self,
        name: str,
        cfg: ServiceConfig,
        record: ServiceRecord,
        bound: dict[Side, list[BoundProbe]],
        switch: Switch,
        steps: StepBook,
        *,
        metrics: Metrics,
        persistence: ServicePersistence,
        log: Logger,
        clock: Clock = SYSTEM,
        notify: Emit = no_emit,
        replication: Scheduler | None = None,
        audit: Callable[..., None] = lambda *args, **kw: None,
        give_way: Callable[[PlanRecord], Awaitable[None]] | None = None,
        guard: TaskGuard | None = None,
    ) -> None:
        self.name, self.cfg, self.record = name, cfg, record
        self.guard = guard or TaskGuard(metrics, log)
        self.replication = replication
        self.policy = policy_of(cfg)
        self.bound, self.switch, self.steps = bound, switch, steps
        self.metrics, self.persistence, self.clock, self.notify = (
            metrics,
            persistence,
            clock,
            notify,
        )
        self.log = log.bind(service=name)
        self.last_round: dict[Side, list[ProbeReport]] = {"primary": [], "standby": []}
        self.rounds = 0
        self.started_at = clock.monotonic()
        self.last_round_at: float | None = None  # monotonic end of the last completed round
        self.last_error: str | None = None  # the last round's error, until a round completes
        self.verdict: dict[Side, bool] = {}  # the last round's verdict per side (for witnesses)
        self.verdict_at: float | None = None  # wall time of that round
        self._witness_ok: dict[tuple[Side, str], bool] = {}
        self.audit = audit
        self.last_explain: dict[str, Any] | None = None
        self.stopping = asyncio.Event()  # shutdown: the loop ends, a plan stops between steps
        self.loop_stopping = asyncio.Event()  # a reload: only the loop ends, plans run on
        self.plans = PlanLifecycle(
            name,
            cfg,
            record,
            switch,
            steps,
            metrics=metrics,
            log=self.log,
            clock=clock,
            persistence=persistence,
            apply=self.apply,
            stopping=self.stopping,
            notify=notify,
            before_plan=replication.halt if replication else None,
            give_way=give_way,
            guard=self.guard,
        )
        self.metrics.set_state(name, record.machine.state, record.machine.active)

    # ----------------------------------------------------------------- the round loop

    async def run(self) -> None:
        """Probe every `interval` until stop(), with the replication jobs alongside."""
        interval = self.cfg.policy.interval
        jobs = (
            self.guard.spawn(self.replication.run(), f"replication-{self.name}")
            if self.replication
            else None
        )
        try:
            await cadence.every(
                interval, cadence.phase(self.name, interval), self.loop_stopping, self._tick
            )
        finally:
            if jobs is not None:
                jobs.cancel()
                await asyncio.gather(jobs, return_exceptions=True)

    async def _tick(self) -> float:
        """One round; whatever goes wrong in it is logged and counted, and the loop goes on.

        Returns when the next round is due (the machine's `next_interval`).
        """
        try:
            await self.persistence.flush()  # a save owed from a failing disk, retried each round
            if self.record.machine.blocked == Blocked.SWITCH_UNKNOWN and self.record.plan is None:
                await self.adopt(timeout=self.cfg.policy.interval)
            await self.round()
        except Exception as e:
            self.last_error = f"{type(e).__name__}: {e}"
            self.metrics.round_errors.labels(self.name).inc()
            self.log.exception("round_failed", error=self.last_error)
        else:
            self.last_error = None
            self.last_round_at = self.clock.monotonic()
        return machine.next_interval(self.record.machine, self.policy)

    def health(self, now: float) -> list[str]:
        """What is wrong with this service's supervision now ([] when nothing)."""
        problems = []
        stale_after = 3 * self.cfg.policy.interval
        since = (
            self.last_round_at
            if self.last_round_at is not None
            else self.started_at + (cadence.phase(self.name, self.cfg.policy.interval))
        )
        if now - since > stale_after:
            what = f"no round completed for {now - since:.1f}s (over 3 intervals)"
            problems.append(what + (f": {self.last_error}" if self.last_error else ""))
        if self.persistence.error is not None:
            problems.append(f"cannot save its state: {self.persistence.error}")
        return problems

    async def round(self) -> Decision:
        """Run every probe of both sides concurrently, then decide."""
        seen = await probing.observe(self.name, self.bound, self.metrics, self._probe_crashed)
        self.last_round = seen.reports
        self.rounds += 1
        before = self.record.machine
        self.verdict = {s: machine.side_healthy(before, seen.round, s, self.policy) for s in SIDES}
        self.verdict_at = self.clock.wall()
        decision = machine.on_round(before, seen.round, self.clock.wall(), self.policy)
        self.last_explain = views.explain(
            before, decision, self.policy, self.seen(), self.clock.wall()
        )
        self.apply(decision)
        if self.rounds == 1:
            self.log.info("first_round", **{s: [r.ok for r in seen.reports[s]] for s in SIDES})
        self._watch_witnesses(seen.reports)
        for side in SIDES:
            was = machine.ready(before, side, self.policy)
            now = machine.ready(decision.state, side, self.policy)
            self.metrics.side_ready.labels(self.name, side).set(1 if now else 0)
            if was != now:
                reasons = [f"{r.probe}: {r.reason}" for r in seen.reports[side] if not r.ok]
                self.log.info("side_ready" if now else "side_not_ready", side=side, reasons=reasons)
        return decision

    def _watch_witnesses(self, reports: dict[Side, list[ProbeReport]]) -> None:
        """Log when a vantage point is lost or back: a dead witness weakens every decision."""
        for side in SIDES:
            for bp, r in zip(self.bound[side], reports[side], strict=True):
                if not bp.witness:
                    continue
                was = self._witness_ok.get((side, bp.label))
                self._witness_ok[(side, bp.label)] = r.ok
                if was is not None and was != r.ok:
                    (self.log.info if r.ok else self.log.warning)(
                        "witness_ok" if r.ok else "witness_failed",
                        side=side,
                        witness=bp.label,
                        answer=r.reason,
                    )

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
            self.record.add_event(
                Event(
                    self.clock.wall(),
                    self.name,
                    before.state.value,
                    after.state.value,
                    after.active,
                    decision.reason,
                )
            )
            self.log.info(
                "transition",
                **{"from": before.state.value, "to": after.state.value},
                active=after.active,
                reason=decision.reason,
            )
            self.metrics.set_state(self.name, after.state, after.active)
            self.persistence.request()
        for action in decision.actions:
            if isinstance(action, StartPlan):
                self.audit(
                    "failoverd",
                    f"{action.kind}_started",
                    self.name,
                    "started",
                    reason=action.reason,
                    trigger=action.trigger,
                    forced=action.forced,
                )
                self.plans.start(action)
            else:
                self.audit("failoverd", action.event, self.name, "notified", reason=action.message)
                self.notify(
                    action.event,
                    self.name,
                    action.message,
                    _details(action.event, before, after, decision.reason),
                )

    def command(
        self,
        verb: machine.Command,
        reason: str,
        force: bool = False,
        pause_for: float | None = None,
        trigger: machine.Trigger = "manual",
    ) -> Decision:
        """An operator's command: the machine's decision, applied unless it was rejected."""
        now = self.clock.wall()
        until = now + pause_for if pause_for is not None else None
        decision = machine.on_command(
            self.record.machine, verb, now, reason, self.policy, force, until, trigger
        )
        if not decision.rejected:
            self.apply(decision)
        return decision

    # ----------------------------------------------------------------- start and stop

    async def adopt(self, timeout: float | None = None) -> None:
        """Resume a journaled plan, or let the machine adopt where the traffic points now.

        A switch that does not answer within `timeout` leaves the service blocked (the machine
        decides that); the round loop asks again before each round until it answers.
        """
        if self.policy.observe_only:
            return  # it controls no traffic: nothing to adopt
        if self.record.plan is not None:
            plan = self.record.plan
            self.log.warning(
                "plan_resume",
                plan=plan.id,
                kind=plan.kind,
                steps={s.name: s.status for s in plan.steps},
            )
            self.plans.resume(plan)
            return
        limit = timeout if timeout is not None else self.switch.switch_timeout + 5.0
        try:
            async with asyncio.timeout(limit):
                current = await self.switch.current()
        except Exception as e:
            error = str(e) or f"no answer within {limit:g}s"
            self.log.warning("adopt_failed", error=error, active=self.record.machine.active)
            self.apply(machine.on_adopt(self.record.machine, None, known=False, error=error))
            return
        self.apply(machine.on_adopt(self.record.machine, current))

    async def stop(self) -> None:
        """Stop the loop; a plan finishes its step in flight and is journaled for resumption."""
        self.stopping.set()
        self.loop_stopping.set()
        await self.plans.wait()
        if self.plans.clients is not None:  # the client-seen RTO is a measurement: let it go
            self.plans.clients.cancel()
            await asyncio.gather(self.plans.clients, return_exceptions=True)

    # ----------------------------------------------------------------- status

    def seen(self, jobs: bool = False) -> views.Seen:
        """What this runner saw last, for the views; `jobs`: each replication job's status too
        (the status page's, not needed by the explain every round builds)."""
        rpo, ages = self.replication.rpo(self.clock.wall()) if self.replication else (None, {})
        witnesses = [
            r
            for bp, r in zip(self.bound["primary"], self.last_round["primary"], strict=False)
            if bp.witness
        ]
        age = None if self.last_round_at is None else self.clock.monotonic() - self.last_round_at
        return views.Seen(
            reports=self.last_round,
            witnesses=witnesses,
            verdict=dict(self.verdict),
            verdict_at=self.verdict_at,
            round_age=age,
            rpo=rpo,
            replication_ages=ages,
            replication=self.replication.status() if self.replication and jobs else {},
        )

    def view(self) -> dict[str, Any]:
        """This daemon's own verdict per side, for witnesses (GET /v1/services/NAME/view)."""
        return views.view(
            self.name,
            self.cfg.policy.interval,
            self.policy,
            self.record.machine,
            self.seen(),
            self.clock.wall(),
        )

    def status(self) -> dict[str, Any]:
        seen = self.seen(jobs=True)
        return views.status(self.cfg, self.policy, self.record, seen, self.clock.wall())
