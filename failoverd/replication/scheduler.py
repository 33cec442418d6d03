"""Runs one service's replication jobs and keeps the account RPO is computed from.

Each job runs every `every` on monotonic deadlines (a slow run delays the next, missed ticks
are skipped, a job never runs twice at once), bounded by its timeout. Whether a job may run
now is the machine's decision (`machine.may_replicate`: traffic on the primary, no plan in
flight), handed in as `may_run`. The newest success of each job is persisted with the
service, so the RPO stays honest across restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from failoverd.config import ReplicationJob
from failoverd.kit.cadence import next_deadline
from failoverd.kit.clock import SYSTEM, Clock
from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.notify import Emit, no_emit
from failoverd.replication.base import Job
from failoverd.store.records import JobRecord

DEFAULT_TIMEOUT = 300.0


class Scheduler:
    def __init__(
        self,
        service: str,
        specs: dict[str, ReplicationJob],
        jobs: dict[str, Job],
        state: dict[str, JobRecord],
        *,
        metrics: Metrics,
        log: Logger,
        objective_rpo: float | None,
        may_run: Callable[[], bool] = lambda: True,
        clock: Clock = SYSTEM,
        on_change: Callable[[], None] = lambda: None,
        notify: Emit = no_emit,
    ) -> None:
        self.service, self.specs, self.jobs, self.state = service, specs, jobs, state
        self.metrics, self.objective_rpo, self.may_run, self.clock = (
            metrics,
            objective_rpo,
            may_run,
            clock,
        )
        self.log = log.bind(service=service)
        self.on_change = on_change  # a job's record changed: save it
        self.notify = notify
        self.over_objective = False
        self.running: dict[str, asyncio.Task[bool]] = {}
        # monotonic time of each job's newest success in this process: ages from it cannot be
        # bent by a wall-clock jump (the persisted wall time serves after a restart)
        self._success_mono: dict[str, float] = {}
        for name in jobs:
            st = self.state.setdefault(name, JobRecord())
            if st.last_success is not None:
                self.metrics.replication_last_success.labels(service, name).set(st.last_success)

    async def run(self) -> None:
        await asyncio.gather(*(self._loop(name) for name in self.jobs))

    async def _loop(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        every = self.specs[name].every
        deadline = loop.time()
        paused = False
        while True:
            try:
                paused = await self._tick(name, paused)
            except Exception:  # the loop must outlive any one run's surprise
                self.log.exception("replication_loop_error", job=name)
            now = loop.time()
            deadline = next_deadline(deadline, every, now)
            await asyncio.sleep(deadline - now)

    async def _tick(self, name: str, paused: bool) -> bool:
        """One scheduled run if the machine allows it now; returns whether the job is paused."""
        if not self.may_run():
            if not paused:
                self.log.warning(
                    "replication_paused", job=name, reason="traffic is moving or not on the primary"
                )
            self.check_objective()
            return True
        if paused:
            self.log.info("replication_resumed", job=name)
        task = asyncio.create_task(self.run_once(name), name=f"replication-{self.service}-{name}")
        self.running[name] = task
        try:
            await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise  # we are being stopped ourselves, not halted by a plan
            self.log.warning("replication_halted", job=name, reason="a plan is starting")
        finally:
            self.running.pop(name, None)
        self.on_change()
        self.check_objective()
        return False

    async def catch_up(self, left: float) -> None:
        """Run every job once more now, concurrently (the RPO gate is waiting for them)."""
        started = self.clock.monotonic()
        results = await asyncio.gather(*(self.run_once(name) for name in self.jobs))
        self.on_change()
        if not all(results):  # a job failed fast: do not spin, try again in a while
            spent = self.clock.monotonic() - started
            await asyncio.sleep(max(0.0, min(2.0 - spent, left)))

    def halt_now(self) -> None:
        """Cancel every run in flight without waiting (this process stops acting now)."""
        for task in self.running.values():
            task.cancel()

    async def halt(self) -> None:
        """Stop every run in flight (a plan is about to promote the side they write into)."""
        runs = list(self.running.values())
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    async def run_once(self, name: str) -> bool:
        """One run of a job, recorded; True on success."""
        st, spec = self.state[name], self.specs[name]
        started = self.clock.monotonic()
        try:
            async with asyncio.timeout(spec.timeout or DEFAULT_TIMEOUT):
                note = await self.jobs[name]()
        except Exception as e:
            error = (
                f"timed out after {spec.timeout or DEFAULT_TIMEOUT:g}s"
                if isinstance(e, TimeoutError)
                else str(e)
            )
            st.last_error, st.failures = error[:500], st.failures + 1
            self.metrics.replication_failures.labels(self.service, name).inc()
            self.log.warning("replication_failed", job=name, error=st.last_error)
            ok = False
        else:
            st.last_success, st.last_error, st.last_note = self.clock.wall(), None, note
            self._success_mono[name] = self.clock.monotonic()
            self.metrics.replication_last_success.labels(self.service, name).set(st.last_success)
            self.log.debug("replication_done", job=name, note=note)
            ok = True
        self.metrics.replication_duration.labels(self.service, name).observe(
            self.clock.monotonic() - started
        )
        return ok

    def ages(self, now: float) -> dict[str, float | None]:
        """Seconds since each job's newest success (None: it never succeeded)."""
        out: dict[str, float | None] = {}
        for name in self.jobs:
            last, mono = self.state[name].last_success, self._success_mono.get(name)
            if mono is not None:
                out[name] = round(self.clock.monotonic() - mono, 3)
            else:
                out[name] = None if last is None else round(max(0.0, now - last), 3)
        return out

    def rpo(self, now: float) -> tuple[float | None, dict[str, float | None]]:
        """The service's RPO now: the largest job age (None when a job never succeeded)."""
        ages = self.ages(now)
        if not ages or any(a is None for a in ages.values()):
            return None, ages
        return max(a for a in ages.values() if a is not None), ages

    def check_objective(self) -> None:
        """Log once when the RPO crosses objectives.rpo, and once when it is back under."""
        if not self.jobs:
            return
        rpo, ages = self.rpo(self.clock.wall())
        if rpo is not None:
            self.metrics.rpo.labels(self.service).set(rpo)
        if self.objective_rpo is None:
            return
        self.metrics.rpo_objective.labels(self.service).set(self.objective_rpo)
        over = rpo is None or rpo > self.objective_rpo
        if over != self.over_objective:
            self.over_objective = over
            details = {"rpo_seconds": rpo, "objective_seconds": self.objective_rpo, "ages": ages}
            if over:
                self.log.warning("rpo_objective_exceeded", **details)
                shown = "unknown (a job never succeeded)" if rpo is None else f"{rpo:.0f}s"
                self.notify(
                    "rpo_objective_exceeded",
                    self.service,
                    f"RPO {shown} exceeds the objective {self.objective_rpo:g}s",
                    details,
                )
            else:
                self.log.info("rpo_objective_met", **details)
                self.notify(
                    "rpo_objective_met",
                    self.service,
                    f"RPO {rpo:.0f}s is within the objective {self.objective_rpo:g}s again",
                    details,
                )

    def status(self) -> dict[str, Any]:
        rpo, ages = self.rpo(self.clock.wall())
        jobs = {
            name: {
                "age_seconds": ages[name],
                "last_success": st.last_success,
                "last_error": st.last_error,
                "failures": st.failures,
                "last_note": st.last_note,
            }
            for name, st in ((n, self.state[n]) for n in self.jobs)
        }
        warning = None
        if (
            self.objective_rpo is not None
            and self.jobs
            and (rpo is None or rpo > self.objective_rpo)
        ):
            warning = f"RPO {rpo if rpo is not None else 'unknown'}s exceeds the objective {self.objective_rpo:g}s"
        return {
            "jobs": jobs,
            "rpo_seconds": rpo,
            "rpo_objective_seconds": self.objective_rpo,
            "warning": warning,
        }
