"""The task guard: a background task's unasked-for end is logged, counted and on /healthz."""

from __future__ import annotations

import asyncio

import structlog
from structlog.testing import capture_logs

from failoverd.kit.metrics import Metrics
from failoverd.kit.tasks import TaskGuard


def failures(metrics: Metrics, task: str) -> float | None:
    return metrics.registry.get_sample_value("failoverd_task_failures_total", {"task": task})


async def boom() -> None:
    raise RuntimeError("the disk went away")


async def test_a_task_that_dies_is_logged_counted_and_a_health_problem_until_it_runs_again():
    metrics = Metrics()
    guard = TaskGuard(metrics, structlog.get_logger())
    with capture_logs() as logs:
        task = guard.spawn(boom(), "rounds-web")
        await asyncio.gather(task, return_exceptions=True)
    (line,) = [x for x in logs if x["event"] == "task_failed"]
    assert line["task"] == "rounds-web" and "the disk went away" in line["error"]
    assert failures(metrics, "rounds-web") == 1
    assert guard.problems() == ["task rounds-web died: RuntimeError: the disk went away"]
    again = guard.spawn(asyncio.sleep(0), "rounds-web")
    await again
    assert guard.problems() == []


async def test_an_end_that_is_part_of_a_stop_or_a_cancel_is_not_a_failure():
    metrics = Metrics()
    guard = TaskGuard(metrics, structlog.get_logger())
    stopping = asyncio.Event()
    stopping.set()
    quiet = guard.spawn(boom(), "lease", expected=stopping.is_set)
    cancelled = guard.spawn(asyncio.sleep(60), "gc")
    cancelled.cancel()
    await asyncio.gather(quiet, cancelled, return_exceptions=True)
    assert guard.problems() == [] and not failures(metrics, "lease")


async def test_a_measurement_that_dies_is_counted_but_not_a_health_problem_and_a_removed_service_is_forgotten():
    metrics = Metrics()
    guard = TaskGuard(metrics, structlog.get_logger())
    measured = guard.spawn(boom(), "client-rto-web", critical=False)
    loop = guard.spawn(boom(), "rounds-my-web")
    gone = guard.spawn(boom(), "rounds-web")
    await asyncio.gather(measured, loop, gone, return_exceptions=True)
    assert failures(metrics, "client-rto-web") == 1
    assert [p.split(":")[0] for p in guard.problems()] == [
        "task rounds-my-web died",
        "task rounds-web died",
    ]
    guard.forget("web")
    assert [p.split(":")[0] for p in guard.problems()] == ["task rounds-my-web died"]
