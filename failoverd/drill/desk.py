"""The daemon's drill desk: starts drills, books their ends, and cleans up after a crash."""

from __future__ import annotations

import asyncio
from typing import Any

from failoverd.drill import report as drill_report
from failoverd.drill.runner import DrillRunner, as_report
from failoverd.kit.clock import Clock
from failoverd.kit.errors import Refused, UnknownService
from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.notify import Notifier
from failoverd.runtime.service import ServiceRunner
from failoverd.store.audit import AuditLog
from failoverd.store.records import DrillRecord, PlanRecord, ServiceRecord


class DrillDesk:
    def __init__(
        self, metrics: Metrics, notifier: Notifier, audit: AuditLog, clock: Clock, log: Logger
    ) -> None:
        self.metrics, self.notifier, self.audit, self.clock, self.log = (
            metrics,
            notifier,
            audit,
            clock,
            log,
        )
        self.drills: dict[str, DrillRunner] = {}

    def _for(self, name: str, runner: ServiceRunner) -> DrillRunner:
        drills = self.drills.setdefault(name, DrillRunner(runner, self._done))
        drills.runner = runner  # the service's runner after a reload
        return drills

    def start(
        self, runner: ServiceRunner | None, service: str, kind: str, reason: str, soak: float
    ) -> str:
        """Start a drill; its id. UnknownService or Refused (with the reason) when it cannot."""
        if runner is None:
            raise UnknownService(f"no service named {service!r}")
        drills = self._for(service, runner)
        if drills.busy or runner.record.drill is not None:
            raise Refused("a drill is already running")
        if runner.plans.task is not None and not runner.plans.task.done():
            raise Refused("a plan is running")
        if runner.policy.observe_only:
            raise Refused("this instance only observes: it cannot drill")
        return drills.start(kind, reason, soak).id  # audited by the API: who asked, from where

    def _done(self, d: DrillRecord) -> None:
        self.metrics.drills.labels(d.service, d.kind, d.outcome).inc()
        if d.outcome == "passed":
            self.metrics.drill_last_success.labels(d.service, d.kind).set(d.finished or 0)
        self.notifier.emit(
            "drill_finished",
            d.service,
            drill_report.headline(as_report(d)),
            {
                "drill": d.id,
                "kind": d.kind,
                "outcome": d.outcome,
                "error": d.error,
                "rto_seconds": d.rto_seconds,
                "failback_rto_seconds": d.failback_rto_seconds,
                "projected_rto_seconds": d.projected_rto_seconds,
                "rpo_seconds": d.rpo_seconds,
            },
        )
        self.audit.record(
            "failoverd", f"drill_{d.kind}", d.service, d.outcome, drill=d.id, reason=d.error
        )

    @staticmethod
    def reports(records: dict[str, ServiceRecord], drill_id: str | None) -> list[dict[str, Any]]:
        """Drills newest first (the one with `drill_id` only, when given)."""
        found = [
            as_report(d)
            for rec in records.values()
            for d in ([rec.drill] if rec.drill else []) + rec.drills
            if drill_id is None or d.id == drill_id
        ]
        return sorted(found, key=lambda r: r["started"], reverse=True)

    def last_successes(self, records: dict[str, ServiceRecord]) -> None:
        """The newest passed drill of each kind, from the journal: FailoverdDrillOverdue reads it,
        and a series missing after a restart would keep that alert silent until the next pass."""
        for name, rec in records.items():
            for kind in ("readiness", "full"):
                passed = [
                    d.finished
                    for d in rec.drills
                    if d.kind == kind and d.outcome == "passed" and d.finished is not None
                ]
                if passed:
                    self.metrics.drill_last_success.labels(name, kind).set(max(passed))

    async def cut_short(self, runners: dict[str, ServiceRunner]) -> None:
        """A drill the last run left in flight: put back what it changed, call it interrupted."""
        for name, runner in runners.items():
            d = runner.record.drill
            if d is None:
                continue
            await self._for(name, runner).undo(d)
            d.outcome, d.error = "interrupted", "failoverd restarted during the drill"
            d.finished = self.clock.wall()
            runner.record.drill = None
            runner.record.drills.insert(0, d)
            runner.persistence.request()
            self.log.warning("drill_cut_short", service=name, drill=d.id, undone=not d.undo)

    async def give_way(self, service: str, plan: PlanRecord) -> None:
        """A real plan of `service` starts: its drill in flight stops first (see DrillRunner)."""
        drills = self.drills.get(service)
        if drills is not None:
            await drills.give_way(plan)

    def abandon(self) -> None:
        """The lease is lost: every drill stops at once, puts nothing back, writes nothing."""
        for drills in self.drills.values():
            drills.abandon()

    async def cancel(self) -> None:
        """Shutdown: drills in flight stop (and put back what they changed)."""
        tasks = [d.task for d in self.drills.values() if d.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
