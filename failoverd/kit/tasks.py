"""One guard for every background task: an end nobody asked for is logged, counted and on /healthz.

A task that dies quietly is the worst failure a daemon that must act at 3 a.m. can have: a round
loop, the lease, a plan, a notification worker. Every long-lived task is watched here: an error
that ends it (or that it survives, for a worker that goes on) is `task_failed` in the log with
its traceback, counted in failoverd_task_failures_total{task}, and a task that died is a line in
/healthz until a task of the same name runs again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics

T = TypeVar("T")
SERVICE_TASKS = ("rounds", "replication", "plan", "client-rto")  # named KIND-SERVICE


def _never() -> bool:
    return False


class TaskGuard:
    def __init__(self, metrics: Metrics, log: Logger) -> None:
        self.metrics, self.log = metrics, log
        self.died: dict[str, str] = {}  # task name -> why it died (until one of that name runs)

    def spawn(
        self,
        coro: Coroutine[Any, Any, T],
        name: str,
        expected: Callable[[], bool] = _never,
        critical: bool = True,
    ) -> asyncio.Task[T]:
        """Start `coro` as a watched task; `expected()` true: its error is part of a stop;
        not `critical`: its death is logged and counted, but /healthz does not report it (a
        measurement, not something failing over depends on)."""
        return self.watch(asyncio.create_task(coro, name=name), expected, critical)

    def watch(
        self,
        task: asyncio.Task[T],
        expected: Callable[[], bool] = _never,
        critical: bool = True,
    ) -> asyncio.Task[T]:
        """Watch a task someone else started."""
        self.died.pop(task.get_name(), None)
        task.add_done_callback(lambda t: self._ended(t, expected, critical))
        return task

    def _ended(self, task: asyncio.Task[Any], expected: Callable[[], bool], critical: bool) -> None:
        if task.cancelled() or expected():
            return
        error = task.exception()
        if error is not None:
            self.failed(task.get_name(), error)
            if critical:
                self.died[task.get_name()] = f"{type(error).__name__}: {error}"

    def forget(self, service: str) -> None:
        """A service left the config: its tasks' deaths are no longer a problem of this daemon."""
        for kind in SERVICE_TASKS:
            self.died.pop(f"{kind}-{service}", None)

    def failed(self, name: str, error: BaseException, survived: bool = False) -> None:
        """Log and count a task's error (`survived`: the task goes on, e.g. a worker's loop)."""
        self.metrics.task_failures.labels(name).inc()
        self.log.error(
            "task_failed",
            task=name,
            error=repr(error),
            survived=survived or None,
            exc_info=(type(error), error, error.__traceback__),
        )

    def problems(self) -> list[str]:
        """A line for each task that died and was not started again ([] when none)."""
        return [f"task {name} died: {why}" for name, why in sorted(self.died.items())]
