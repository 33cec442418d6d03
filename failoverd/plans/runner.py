"""Failover and failback plans: ordered, idempotent, journaled steps.

A plan is a list of named steps (fence, prepare, switch, verify). Before and after each step
the journal is handed to `persist`, so a daemon killed at any point resumes where it stopped:
a step journaled `running` is run again (steps are idempotent), a `done` one never is. Each
attempt has a timeout; transient failures are retried with tenacity (exponential backoff with
jitter, bounded attempts); a PermanentError or the last failed attempt fails the plan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import tenacity

from failoverd.kit.clock import SYSTEM, Clock
from failoverd.kit.errors import PermanentError
from failoverd.store.records import PlanRecord, Step

__all__ = ["PlanRecord", "PlanRunner", "RetryPolicy", "Step", "StepFn"]

StepFn = Callable[[PlanRecord, Step], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 12
    timeout: float = 10.0  # per attempt
    backoff_initial: float = 0.2
    backoff_max: float = 5.0


@dataclass
class PlanRunner:
    """Runs a plan's steps with the given step functions; owns no state beyond the journal."""

    steps: dict[str, StepFn]
    persist: Callable[[PlanRecord], Awaitable[None]]  # returns once the journal is on disk
    clock: Clock = SYSTEM
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_step: Callable[[PlanRecord, Step], None] = lambda plan, step: None
    on_start: Callable[[PlanRecord, Step], None] = lambda plan, step: None
    stopping: asyncio.Event | None = None  # set: finish the step in flight, then return
    overrides: dict[str, RetryPolicy] = field(default_factory=dict)  # per step, over `retry`
    # awaited before a step starts with its attempt timeout: returns once it fits in what is
    # left of the leader's lease, raises if the lease is lost (arbiter cluster only)
    gate: Callable[[float], Awaitable[None]] | None = None

    async def run(self, plan: PlanRecord) -> PlanRecord:
        """Run every step not yet done; returns the journal with the result filled in."""
        if plan.result != "running":
            return plan  # finished before a crash, only its closing was lost: nothing to run
        for step in plan.steps:
            if step.status in ("done", "skipped") or (step.status == "failed" and step.best_effort):
                continue
            if self.stopping is not None and self.stopping.is_set():
                return plan  # still "running": the journal resumes it at the next start
            if self.gate is not None:
                await self.gate(self.overrides.get(step.name, self.retry).timeout)
            step.status, step.started, step.error = "running", self.clock.wall(), None
            began = self.clock.monotonic()
            await self.persist(plan)
            self.on_start(plan, step)
            try:
                await self._attempts(plan, step)
            except Exception as e:
                step.error = _describe(e)
                step.status = "failed"
                step.duration_seconds = self.clock.monotonic() - began
                if not step.best_effort:
                    self.on_step(plan, step)
                    await self._finish(plan, "failed", f"{step.name}: {step.error}")
                    return plan
            else:
                step.status = "done"
                step.duration_seconds = self.clock.monotonic() - began
            self.on_step(plan, step)
            await self.persist(plan)
        await self._finish(plan, "success", None)
        return plan

    async def _attempts(self, plan: PlanRecord, step: Step) -> None:
        fn = self.steps[step.name]
        policy = self.overrides.get(step.name, self.retry)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_exponential_jitter(
                multiplier=policy.backoff_initial,
                max=policy.backoff_max,
                jitter=policy.backoff_initial,
            ),
            retry=tenacity.retry_if_not_exception_type((PermanentError, asyncio.CancelledError)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                step.attempts += 1
                try:
                    async with asyncio.timeout(policy.timeout):
                        await fn(plan, step)
                except TimeoutError:
                    raise TimeoutError(f"no result within {policy.timeout:g}s") from None
                except Exception as e:
                    step.error = _describe(e)
                    await self.persist(plan)  # the status shows the retries as they happen
                    raise

    async def _finish(
        self, plan: PlanRecord, result: Literal["success", "failed"], error: str | None
    ) -> None:
        plan.result, plan.finished, plan.error = result, self.clock.wall(), error
        await self.persist(plan)


def _describe(e: BaseException) -> str:
    return str(e) or type(e).__name__
