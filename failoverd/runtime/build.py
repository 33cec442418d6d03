"""Building a service's runner from its config: probes bound, switch, jobs, steps and plans.

The daemon builds every runner here (at start, when it is elected, at a reload), and so can a
test: the same parts, wired the same way. A follower's runner observes only: no plans, no
replication jobs, no notifications.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from failoverd import config, machine, probes, replication, traffic
from failoverd.clients.clusters import Clusters
from failoverd.kit.clock import Clock
from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.kit.tasks import TaskGuard
from failoverd.machine import SIDES
from failoverd.notify import Emit, no_emit
from failoverd.plans.steps import StepBook
from failoverd.replication.scheduler import Scheduler
from failoverd.runtime.probing import BoundProbe
from failoverd.runtime.service import ServiceRunner
from failoverd.store.persist import ServicePersistence
from failoverd.store.records import PlanRecord


def _no_audit(*args: Any, **kwargs: Any) -> None:
    return None


def _no_rpo(now: float) -> tuple[float | None, dict[str, float | None]]:
    return None, {}


@dataclass(frozen=True)
class RunnerFactory:
    """What every runner shares: the HTTP session, metrics, logs, clock, task guard and hooks.

    `give_way(service, plan)`: a drill in flight stops before a real plan's first step.
    `gate(timeout)`: the leader's lease (a plan step starts only when it fits in it).
    """

    session: aiohttp.ClientSession
    metrics: Metrics
    log: Logger
    clock: Clock
    guard: TaskGuard
    notify: Emit = no_emit
    audit: Callable[..., None] = _no_audit
    give_way: Callable[[str, PlanRecord], Awaitable[None]] | None = None
    gate: Callable[[float], Awaitable[None]] | None = None

    def build(
        self,
        name: str,
        svc: config.ServiceConfig,
        clusters: Clusters,
        persistence: ServicePersistence,
        follow: bool = False,
    ) -> ServiceRunner:
        """A service's runner; a follower's observes only (no plans, jobs or notifications)."""
        if follow:
            svc = svc.model_copy(update={"observe_only": True})
        bound = {
            side: bind(svc.probes.of(side), probes.ProbeContext(self.session, clusters, name, side))
            for side in SIDES
        }
        record = persistence.record
        switch = traffic.build(svc.traffic)
        scheduler = self._scheduler(name, svc, clusters, persistence)
        steps = StepBook(
            name,
            svc,
            switch,
            clusters,
            self.clock,
            catch_up=scheduler.catch_up if scheduler else None,
            rpo=scheduler.rpo if scheduler else _no_rpo,
        )
        give_way = self.give_way

        async def drill_gives_way(plan: PlanRecord) -> None:
            if give_way is not None:
                await give_way(name, plan)

        runner = ServiceRunner(
            name,
            svc,
            record,
            bound,
            switch,
            steps,
            replication=scheduler,
            metrics=self.metrics,
            persistence=persistence,
            log=self.log,
            clock=self.clock,
            notify=self.notify,
            audit=self.audit,
            give_way=drill_gives_way,
            guard=self.guard,
        )
        runner.plans.gate = self.gate
        return runner

    def _scheduler(
        self,
        name: str,
        svc: config.ServiceConfig,
        clusters: Clusters,
        persistence: ServicePersistence,
    ) -> Scheduler | None:
        if not svc.replication or svc.observe_only:
            return None
        record = persistence.record
        jobs = {
            job: replication.build(spec, replication.JobContext(name, job, svc.mode, clusters))
            for job, spec in svc.replication.items()
        }
        return Scheduler(
            name,
            svc.replication,
            jobs,
            record.replication,
            metrics=self.metrics,
            log=self.log,
            objective_rpo=svc.objectives.rpo,
            clock=self.clock,
            on_change=persistence.request,
            notify=self.notify,
            may_run=lambda: machine.may_replicate(record.machine, record.plan is not None),
        )


def bind(specs: list[config.ProbeSpec], ctx: probes.ProbeContext) -> list[BoundProbe]:
    """Each probe of a side with its label, its timeout and what it vouches for."""
    labels = config.probe_labels(specs)
    return [
        BoundProbe(
            label,
            probes.build(s, ctx),
            s.spec.timeout,
            s.spec.role == "cluster",
            witness=s.kind == "witness",
        )
        for label, s in zip(labels, specs, strict=True)
    ]
