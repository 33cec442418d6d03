"""DR drills: scheduled proof that the failover path works, judged against the objectives.

readiness: nothing that serves users changes. It checks the standby's readiness, writes and
deletes a drill-only record with the switch's own credentials (never the live one), checks
replication age against objectives.rpo, and in warm/cold mode scales the standby up and back
(the replicas it had are journaled first, so a crash undoes the scale at the next start).
Prepare commands are not run: they cannot be undone. The report projects the RTO: detection
(interval x threshold) + the measured prepare + the measured switch write.

full: a real failover (trigger `drill`), a check through the moved traffic path, a soak, then
a failback; it reports the RTO both ways and the RPO at the switch. A real outage interrupts a
drill (outcome interrupted) and the normal automatic behaviour takes over at once.

A plan and a drill never run at once: a real plan that starts makes the drill give way before
its first step (the drill task is cancelled and awaited), and what the drill would put back on
a side the plan owns (its target) or on the side that serves is left as it is (machine.may_undo):
a warm drill's scale-up is then the failover's own. A leader that loses its lease abandons its
drills without putting anything back: it may no longer write, and the new leader undoes from
the journal.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from failoverd import machine
from failoverd.kit.errors import ActionError
from failoverd.machine import SIDES, Side, State, other
from failoverd.runtime.service import ServiceRunner
from failoverd.store.records import DrillCheck, DrillRecord, PlanRecord, UndoEntry

POLL = 0.25  # seconds between looks at the service while a drill waits on it


class Interrupted(Exception):
    pass


class DrillRunner:
    """Runs the drills of one service; at most one plan or drill at a time."""

    def __init__(self, runner: ServiceRunner, on_done: Callable[[DrillRecord], None]) -> None:
        self.runner, self.on_done = runner, on_done
        self.task: asyncio.Task[None] | None = None
        self.gave_way: str | None = None  # why a real plan interrupted the drill in flight
        self.abandoned = False  # the lease was lost: stop, put nothing back, write nothing
        self.settling = False  # the drill ran and was put back: only its report is left to write

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, kind: str, reason: str, soak: float) -> DrillRecord:
        r = self.runner
        drill = DrillRecord(
            id=uuid.uuid4().hex[:12],
            service=r.name,
            kind=kind,
            reason=reason,
            started=r.clock.wall(),
            soak_seconds=soak,
            objectives={"rto": r.cfg.objectives.rto, "rpo": r.cfg.objectives.rpo},
        )
        r.record.drill = drill
        r.persistence.request()
        self.gave_way, self.abandoned, self.settling = None, False, False
        self.task = asyncio.create_task(self._run(drill), name=f"drill-{r.name}-{drill.id}")
        return drill

    async def give_way(self, plan: PlanRecord) -> None:
        """A real plan starts: the drill in flight stops before the plan's first step.

        What it would put back on the plan's target stays as it is (the plan owns it now); the
        drill ends `interrupted`. The drill's own plans (a full drill's moves) are not real ones.
        """
        task = self.task
        if plan.trigger == "drill" or task is None or task.done():
            return
        d = self.runner.record.drill
        self.runner.log.warning(
            "drill_gives_way",
            drill=d.id if d else None,
            plan=plan.id,
            kind=plan.kind,
            target=plan.target,
        )
        if not self.settling:  # a drill writing its report is left to finish it
            self.gave_way = f"a real {plan.kind} started ({plan.reason}): the drill gave way"
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if d is not None and self.runner.record.drill is d:  # cancelled before its first step
            d.outcome, d.error = "interrupted", self.gave_way
            await self._book(d)

    def abandon(self) -> None:
        """The lease is lost: stop now, put nothing back and write nothing.

        The drill stays journaled in the state the new leader claims; it puts back what the
        drill changed (cut_short), within its own lease.
        """
        if self.task is not None and not self.task.done():
            self.abandoned = True
            self.task.cancel()

    async def _run(self, drill: DrillRecord) -> None:
        r = self.runner
        r.log.warning("drill_start", drill=drill.id, kind=drill.kind, reason=drill.reason)
        try:
            await self._attempt(drill)
        except asyncio.CancelledError:
            if self.gave_way is None or self.abandoned:
                raise  # shutdown (put back above) or a lost lease (nothing touched)
            task = asyncio.current_task()
            if task is not None and task.uncancel() > 0:
                raise  # another cancellation (a shutdown) came with ours: it wins
            drill.outcome, drill.error = "interrupted", self.gave_way
        await self._book(drill)

    async def _book(self, drill: DrillRecord) -> None:
        """The drill's end: its verdict, kept in the record as its report, logged and told."""
        r = self.runner
        self.settling = True
        if drill.outcome == "running":
            drill.outcome = self._verdict(drill)
        drill.finished = r.clock.wall()
        r.record.drill = None
        r.record.drills.insert(0, drill)
        del r.record.drills[20:]
        await r.persistence.durable()
        r.log.warning(
            "drill_done",
            drill=drill.id,
            kind=drill.kind,
            outcome=drill.outcome,
            error=drill.error,
            rto_seconds=drill.rto_seconds,
            projected_rto_seconds=drill.projected_rto_seconds,
        )
        self.on_done(drill)

    async def _attempt(self, drill: DrillRecord) -> None:
        """Run the drill's checks, then put back what it changed (unless the lease was lost)."""
        r = self.runner
        try:
            blocked = self._precondition(drill.kind)
            if blocked:
                drill.outcome, drill.error = "blocked", blocked
            elif drill.kind == "full":
                await self._full(drill)
            else:
                await self._readiness(drill)
        except Interrupted as e:
            drill.outcome, drill.error = "interrupted", str(e)
        except Exception as e:  # a drill's bug must not take the service down
            r.log.exception("drill_error", drill=drill.id)
            drill.outcome, drill.error = "failed", f"{type(e).__name__}: {e}"
        finally:
            if not self.abandoned:
                await self.undo(drill)

    # ----------------------------------------------------------------- conditions

    def _precondition(self, kind: str) -> str | None:
        """Why the drill cannot start (it then touches nothing), or None."""
        r = self.runner
        st = r.record.machine
        if r.plans.task is not None and not r.plans.task.done():
            return "a plan is running"
        if st.state not in (State.PRIMARY_ACTIVE, State.STANDBY_ACTIVE):
            return f"the service is {st.state}" + (f" ({st.blocked})" if st.blocked else "")
        if kind == "full" and st.active != "primary":
            return "traffic is on the standby: a full drill starts from the primary"
        target = other(st.active)
        if kind == "full" and not machine.ready(st, target, r.policy):
            return f"the {target} is not ready"
        return None

    def _watch(self, expect: set[State]) -> None:
        """A real outage (or an operator) takes over: the drill gives way at once."""
        st = self.runner.record.machine
        if st.state not in expect:
            raise Interrupted(f"the service went {st.state}: the drill gave way")

    def _verdict(self, d: DrillRecord) -> str:
        if not all(c.ok for c in d.checks):
            return "failed"
        rto, rpo = d.objectives.get("rto"), d.objectives.get("rpo")
        measured = d.rto_seconds if d.rto_seconds is not None else d.projected_rto_seconds
        if rto is not None and measured is not None and measured > rto:
            d.error = f"RTO {measured:.1f}s misses the objective {rto:g}s"
            return "failed"
        if rpo is not None and d.rpo_seconds is not None and d.rpo_seconds > rpo:
            d.error = f"RPO {d.rpo_seconds:.1f}s misses the objective {rpo:g}s"
            return "failed"
        return "passed"

    async def _check(
        self, d: DrillRecord, name: str, fn: Callable[[], Awaitable[str]]
    ) -> DrillCheck:
        """Run one check, timed; an ActionError is a failed check with the system's words."""
        r = self.runner
        c = DrillCheck(name, ok=False, started=r.clock.wall())
        t0 = r.clock.monotonic()
        try:
            c.detail, c.ok = await fn(), True
        except (ActionError, OSError, TimeoutError) as e:
            c.detail = str(e) or type(e).__name__
        c.duration_seconds = round(r.clock.monotonic() - t0, 4)
        d.checks.append(c)
        await r.persistence.durable()
        r.log.info(
            "drill_check",
            drill=d.id,
            check=name,
            ok=c.ok,
            detail=c.detail,
            duration_seconds=c.duration_seconds,
        )
        return c

    # ----------------------------------------------------------------- readiness

    async def _readiness(self, d: DrillRecord) -> None:
        r = self.runner
        st = r.record.machine
        target = other(st.active)
        steady = {State.PRIMARY_ACTIVE, State.STANDBY_ACTIVE}

        async def ready() -> str:
            if not machine.ready(r.record.machine, target, r.policy):
                raise ActionError(
                    f"the {target} is not ready ({r.record.machine.oks[target]} of "
                    f"{r.policy.recovery_threshold} healthy rounds)"
                )
            return f"{r.record.machine.oks[target]} healthy rounds in a row"

        await self._check(d, f"{target} ready", ready)
        self._watch(steady)
        switch = await self._check(d, "switch writable", lambda: r.switch.drill_check(d.id))
        self._watch(steady)
        if r.replication is not None:
            await self._check(d, "replication fresh", lambda: self._rpo(d))
        prepare = await self._prepare(d, target)
        self._watch(steady)
        detection = r.cfg.policy.interval * r.cfg.policy.failure_threshold
        d.projected_rto_seconds = round(
            detection
            + (prepare.duration_seconds or 0.0 if prepare else 0.0)
            + (switch.duration_seconds or 0.0),
            3,
        )

    async def _rpo(self, d: DrillRecord) -> str:
        assert self.runner.replication is not None
        rpo, ages = self.runner.replication.rpo(self.runner.clock.wall())
        d.rpo_seconds = rpo
        objective = d.objectives.get("rpo")
        if rpo is None:
            raise ActionError(f"a replication job never succeeded: {ages}")
        if objective is not None and rpo > objective:
            raise ActionError(f"RPO {rpo:.1f}s exceeds the objective {objective:g}s: {ages}")
        return f"RPO {rpo:.1f}s" + (f" within {objective:g}s" if objective is not None else "")

    async def _prepare(self, d: DrillRecord, target: Side) -> DrillCheck | None:
        """warm/cold: restore the newest snapshot and scale the idle side up (both undone)."""
        r = self.runner
        cfg = (
            r.cfg.prepare
            if target == "standby"
            else (r.cfg.failback.prepare if r.cfg.failback else None)
        )
        if r.cfg.mode == "hot" or cfg is None or not (cfg.scale or cfg.restore):
            return None
        check: DrillCheck | None = None
        if cfg.restore is not None:
            restore = cfg.restore
            check = await self._check(
                d,
                f"restore the newest snapshot into the {target}",
                lambda: self._restore(d, restore, target),
            )
        for s in cfg.scale:  # journal what to put back before touching anything
            wanted = await r.steps.wanted_replicas(s)
            d.undo.append(
                UndoEntry("scale", s.cluster, s.kind, s.namespace, s.name, target, wanted)
            )
        await r.persistence.durable()
        if not cfg.scale:
            return check
        scales, timeout = cfg.scale, cfg.timeout

        async def scale_up() -> str:
            async with asyncio.timeout(timeout):
                await r.steps.scale(scales, wait=True)
            return ", ".join(f"{s.kind} {s.namespace}/{s.name} {s.replicas} ready" for s in scales)

        scaled = await self._check(d, f"prepare the {target} (scale up, ready)", scale_up)
        if check is not None and scaled.duration_seconds is not None:
            scaled.duration_seconds += check.duration_seconds or 0.0  # the projected prepare
        return scaled

    async def _restore(self, d: DrillRecord, restore: Any, target: Side) -> str:
        """Create the newest verified snapshot's objects the standby lacks; deleted afterwards.

        Objects the standby already has are left as they are (a change to them could not be
        undone). Each created object is journaled right after its creation: a crash in between
        can leak one object, never delete one the drill did not create.
        """
        from failoverd.replication.objects import clean_object
        from failoverd.replication.snapshots import SnapshotStore

        r = self.runner
        job = r.cfg.replication[restore.snapshot_job].s3_snapshot
        assert job is not None
        snapshot, refused = await SnapshotStore(job).newest()
        cluster = restore.cluster or r.cfg.label(target)
        created = 0
        for obj in snapshot.objects:
            clean = clean_object(obj)
            meta = clean["metadata"]
            if not await r.steps.create_missing(cluster, clean):
                continue
            created += 1
            d.undo.append(
                UndoEntry(
                    "delete", cluster, clean["kind"], meta.get("namespace"), meta["name"], target
                )
            )
            await r.persistence.durable()
        return f"{len(snapshot.objects)} objects from {snapshot.key} ({created} created)" + (
            f"; newer snapshots refused: {'; '.join(refused)}" if refused else ""
        )

    async def undo(self, d: DrillRecord) -> None:
        """Put back what the drill changed (also run at start-up for a drill a crash cut short).

        Nothing is put back on the side that serves or on the target of a plan in flight: a real
        plan owns it now (machine.may_undo); those entries are dropped from the journal.
        """
        if not d.undo:
            return
        r = self.runner
        owned, plan = [], r.record.plan
        for u in list(d.undo):
            plan = r.record.plan or plan  # read again for each: a plan may start meanwhile
            target = r.record.plan.target if r.record.plan is not None else None
            if not machine.may_undo(self._side_of(u), r.record.machine.active, target):
                d.undo.remove(u)
                owned.append(u)
                continue
            try:
                if u.action == "delete":
                    await r.steps.remove(u.cluster, u.kind, u.namespace or "", u.name)
                else:  # through the plans' own scale step
                    await r.steps.scale([u.scale_step()], wait=False)
                d.undo.remove(u)
            except ActionError as e:
                r.log.error("drill_undo_failed", drill=d.id, target=asdict(u), error=str(e))
        left = ", ".join(u.describe() for u in d.undo)
        detail = "put back as it was" if not d.undo else f"left: {left}"
        if owned:
            who = f"the {plan.kind} plan's target" if plan is not None else "the serving side"
            detail += f"; left as it is on {who}: " + ", ".join(u.describe() for u in owned)
            r.log.warning(
                "drill_undo_skipped", drill=d.id, owner=who, left=[asdict(u) for u in owned]
            )
        d.checks.append(
            DrillCheck("undo prepare", ok=not d.undo, started=r.clock.wall(), detail=detail)
        )

    def _side_of(self, u: UndoEntry) -> Side | None:
        """The side an undo entry touches (older journals: by the cluster's side label)."""
        if u.side in SIDES:
            return u.side
        labels = {self.runner.cfg.label(s): s for s in SIDES}
        return labels.get(u.cluster)

    # ----------------------------------------------------------------- full

    async def _full(self, d: DrillRecord) -> None:
        r = self.runner
        there = await self._move(d, "failover")
        d.rto_seconds, d.rpo_seconds = there.rto_seconds, there.rpo_seconds

        async def through() -> str:
            await r.switch.verify("standby")
            probes = r.last_round["standby"]
            if not probes or not all(p.ok for p in probes):
                raise ActionError(f"the standby's probes: {[p.reason for p in probes]}")
            return f"{r.switch.describe('standby')}; standby probes healthy"

        await self._check(d, "traffic through the standby", through)
        await self._soak(d)
        back = await self._move(d, "failback")
        d.failback_rto_seconds = back.rto_seconds

    async def _move(self, d: DrillRecord, verb: str) -> Any:
        r = self.runner
        decision = r.command(verb, f"drill {d.id}", trigger="drill")  # type: ignore[arg-type]
        if decision.rejected:
            raise ActionError(f"{verb}: {decision.reason}")
        assert r.plans.task is not None
        t0, started = r.clock.monotonic(), r.clock.wall()
        await asyncio.shield(r.plans.task)
        plan = r.record.last_failover
        assert plan is not None
        d.plans.append(plan.id)
        ok = plan.result == "success"
        d.checks.append(
            DrillCheck(
                f"{verb} (plan {plan.id})",
                ok,
                started=started,
                duration_seconds=round(r.clock.monotonic() - t0, 4),
                detail=f"RTO {plan.rto_seconds}s" if ok else plan.error,
            )
        )
        await r.persistence.durable()
        if not ok:
            raise Interrupted(f"the drill's {verb} failed: {plan.error}")
        return plan

    async def _soak(self, d: DrillRecord) -> None:
        """Stay on the standby for a while; a primary that fails meanwhile is a real outage."""
        r = self.runner
        loop = asyncio.get_running_loop()
        end, t0, started = loop.time() + d.soak_seconds, r.clock.monotonic(), r.clock.wall()
        while loop.time() < end:
            await asyncio.sleep(min(POLL, max(0.0, end - loop.time())))
            st = r.record.machine
            if st.fails["primary"] > 0:
                raise Interrupted("the primary failed during the soak: staying on the standby")
            self._watch({State.STANDBY_ACTIVE, State.STANDBY_SUSPECT})
        d.checks.append(
            DrillCheck(
                "soak on the standby",
                True,
                started=started,
                duration_seconds=round(r.clock.monotonic() - t0, 4),
                detail=f"{d.soak_seconds:g}s, the primary healthy throughout",
            )
        )


def as_report(d: DrillRecord) -> dict[str, Any]:
    """The drill as /v1/drills/ID serves it."""
    return asdict(d)


__all__ = ["DrillRunner", "as_report"]
