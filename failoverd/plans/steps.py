"""The steps of a plan, made from a service's config: fence, prepare, switch, verify.

Each step is one idempotent coroutine, so a plan resumed after a crash may run the step that
was in flight again: scaling to N replicas twice is scaling to N once, an UPSERT twice is one
UPSERT, and prepare/fence commands are documented to be idempotent. A failover fences the
primary and prepares the standby; a failback fences and prepares per the `failback:` section.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from failoverd import config, machine
from failoverd.clients import process
from failoverd.clients.clusters import Clusters
from failoverd.kit.clock import SYSTEM, Clock
from failoverd.kit.errors import PermanentError
from failoverd.machine import PlanKind
from failoverd.plans.runner import RetryPolicy, StepFn
from failoverd.store.records import PlanRecord, Step
from failoverd.traffic.base import Switch

FENCE_ATTEMPTS = 2  # fencing is best effort: an unreachable primary must not delay the failover


class StepBook:
    """Builds the step list of a plan and the coroutines that run its steps."""

    def __init__(
        self,
        service: str,
        cfg: config.ServiceConfig,
        switch: Switch,
        clusters: Clusters,
        clock: Clock = SYSTEM,
        catch_up: Callable[[float], Awaitable[None]] | None = None,
        rpo: Callable[[float], tuple[float | None, dict[str, float | None]]] = lambda now: (
            None,
            {},
        ),
    ) -> None:
        self.service, self.cfg, self.switch, self.clusters = service, cfg, switch, clusters
        self.clock, self.rpo = clock, rpo
        self.catch_up = catch_up or _no_catch_up

    def sections(
        self, kind: PlanKind
    ) -> tuple[config.FenceConfig | None, config.PrepareConfig | None]:
        if kind == "failover":
            return self.cfg.fence, self.cfg.prepare
        fb = self.cfg.failback or config.FailbackConfig()
        return fb.fence, fb.prepare

    def steps_for(self, kind: PlanKind) -> list[Step]:
        fence, prepare = self.sections(kind)
        steps = []
        if fence is not None and (fence.scale or fence.command):
            steps.append(Step("fence", best_effort=True))
        if kind == "failover" and self.cfg.policy.rpo_gate is not None:
            steps.append(Step("rpo_gate"))  # after the fence: the last writes are in
        if prepare is not None and (prepare.scale or prepare.command or prepare.restore):
            steps.append(Step("prepare"))
        return [*steps, Step("switch"), Step("verify")]

    def functions(self) -> dict[str, StepFn]:
        return {
            "fence": self.fence,
            "rpo_gate": self.rpo_gate,
            "prepare": self.prepare,
            "switch": self.switch_traffic,
            "verify": self.verify,
        }

    def overrides(self, kind: PlanKind) -> dict[str, RetryPolicy]:
        """Per-step limits: the step's own timeout where the config gives one."""
        p = self.cfg.policy
        fence, prepare = self.sections(kind)
        out = {
            "switch": RetryPolicy(
                p.step_attempts, max(p.step_timeout, self.switch.switch_timeout + 1.0)
            )
        }
        if fence is not None:
            out["fence"] = RetryPolicy(min(FENCE_ATTEMPTS, p.step_attempts), fence.timeout)
        if prepare is not None:
            out["prepare"] = RetryPolicy(p.step_attempts, prepare.timeout)
        if p.rpo_gate is not None:  # one attempt that waits up to `wait` (plus a last job run)
            out["rpo_gate"] = RetryPolicy(
                1,
                p.rpo_gate.wait
                + 30.0
                + max((j.timeout or 300.0 for j in self.cfg.replication.values()), default=0.0),
            )
        return out

    def _env(self, plan: PlanRecord, step: str, side: str) -> dict[str, str]:
        return {
            "FAILOVERD_SERVICE": self.service,
            "FAILOVERD_PLAN_ID": plan.id,
            "FAILOVERD_PLAN_KIND": plan.kind,
            "FAILOVERD_STEP": step,
            "FAILOVERD_SIDE": side,
            "FAILOVERD_FROM": plan.source,
            "FAILOVERD_TO": plan.target,
        }

    async def scale(self, scales: list[config.ScaleStep], wait: bool) -> None:
        """Scale each workload (and wait until ready): a prepare step, or a drill's."""
        from failoverd.clients import kube  # loaded only where a config scales workloads

        for s in scales:
            api = await self.clusters.api(s.cluster)
            await kube.scale(api, s.kind, s.namespace, s.name, s.replicas)
        if wait:
            for s in scales:
                api = await self.clusters.api(s.cluster)
                await kube.wait_ready(api, s.kind, s.namespace, s.name, s.replicas)

    async def wanted_replicas(self, s: config.ScaleStep) -> int:
        """The replicas a workload is set to now (what a drill puts back after scaling it)."""
        from failoverd.clients import kube

        wanted, _ = await kube.ready_replicas(
            await self.clusters.api(s.cluster), s.kind, s.namespace, s.name
        )
        return wanted

    async def create_missing(self, cluster: str, obj: dict[str, Any]) -> bool:
        """Create obj where it is missing (a drill's restore); False: it was there, untouched."""
        from failoverd.clients import kube

        return await kube.create_object(await self.clusters.api(cluster), obj)

    async def remove(self, cluster: str, kind: str, namespace: str, name: str) -> None:
        """Delete an object (what a drill created); gone already is as wanted."""
        from failoverd.clients import kube

        await kube.delete_object(await self.clusters.api(cluster), kind, namespace, name)

    async def _command(
        self, spec: config.CommandSpec, plan: PlanRecord, step: Step, side: str
    ) -> None:
        try:
            result = await process.run(spec.argv, spec.timeout, self._env(plan, step.name, side))
        except process.CommandFailed as e:
            step.output = e.tail
            raise
        step.output = result.tail

    async def fence(self, plan: PlanRecord, step: Step) -> None:
        """Stop the side losing traffic from taking writes: scale to 0 (and wait), run the command."""
        fence, _ = self.sections(plan.kind)
        assert fence is not None
        await self.scale(fence.scale, wait=True)
        if fence.command is not None:
            await self._command(fence.command, plan, step, plan.source)

    async def rpo_gate(self, plan: PlanRecord, step: Step) -> None:
        """Hold the failover until replication has caught up, as policy.rpo_gate says."""
        gate = self.cfg.policy.rpo_gate
        assert gate is not None
        began = self.clock.monotonic()
        while True:
            rpo, ages = self.rpo(self.clock.wall())
            waited = self.clock.monotonic() - began
            verdict = machine.rpo_gate(rpo, gate.max, waited, gate.wait, gate.then)
            shown = "unknown" if rpo is None else f"{rpo:.1f}s"
            if verdict == "pass":
                step.output = f"RPO {shown} within {gate.max:g}s after {waited:.1f}s"
                return
            if verdict == "failover":
                step.output = (
                    f"RPO {shown} over {gate.max:g}s after {waited:.0f}s: failing over anyway"
                )
                return
            if verdict == "block":
                raise PermanentError(
                    f"rpo_gate: RPO {shown} still over {gate.max:g}s after "
                    f"waiting {waited:.0f}s (ages {ages}): not switching"
                )
            step.output = f"RPO {shown} over {gate.max:g}s: running the replication jobs again"
            await self.catch_up(gate.wait - waited)

    async def prepare(self, plan: PlanRecord, step: Step) -> None:
        """Make the side gaining traffic able to serve: restore, scale up and wait, run the command."""
        _, prepare = self.sections(plan.kind)
        assert prepare is not None
        if prepare.restore is not None:
            await self.restore(prepare.restore, plan, step)
        await self.scale(prepare.scale, wait=True)
        if prepare.command is not None:
            await self._command(prepare.command, plan, step, plan.target)

    async def restore(self, restore: config.RestoreStep, plan: PlanRecord, step: Step) -> None:
        """Apply the newest verified snapshot to the side being prepared (create or patch)."""
        from failoverd.replication.objects import apply_object, clean_object
        from failoverd.replication.snapshots import (
            SnapshotStore,  # boto3 only where a config restores
        )

        job = self.cfg.replication[restore.snapshot_job].s3_snapshot
        assert job is not None  # config validation guarantees an s3_snapshot job
        snapshot, refused = await SnapshotStore(job).newest()
        api = await self.clusters.api(restore.cluster or self.cfg.label(plan.target))
        for obj in snapshot.objects:
            await apply_object(api, clean_object(obj))
        step.output = f"restored {len(snapshot.objects)} objects from {snapshot.key}" + (
            f" (newer snapshots refused: {'; '.join(refused)})" if refused else ""
        )

    async def switch_traffic(self, plan: PlanRecord, step: Step) -> None:
        """Move the traffic; the RPO is what replication had delivered at this moment."""
        if plan.kind == "failover":
            plan.rpo_seconds, plan.rpo_jobs = self.rpo(self.clock.wall())
        await self.switch.switch(plan.target)

    async def verify(self, plan: PlanRecord, step: Step) -> None:
        await self.switch.verify(plan.target)
        plan.rto_seconds = round(self.clock.wall() - plan.outage_started, 6)


async def _no_catch_up(left: float) -> None:
    await asyncio.sleep(min(1.0, max(0.0, left)))
