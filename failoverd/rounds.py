"""One service's cadence and its rounds: when to probe, and what one round observed.

A round runs every probe of both sides concurrently, each bounded by its own timeout (and a
backstop here, for a probe that does not honour it), and folds the results into the frozen
`machine.Round` the decision core reads, plus the per-probe reports the status shows.
Rounds start on monotonic deadlines with a stable per-service phase, so that many services do
not all probe in the same instant: bursts would queue at the targets and in the loop and show
up as interval jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from failoverd import machine
from failoverd.machine import SIDES, Side
from failoverd.metrics import Metrics
from failoverd.probes.base import Observation, Probe

BACKSTOP = 1.0  # seconds past a probe's own timeout before the round gives up on it


def next_deadline(deadline: float, interval: float, now: float) -> float:
    """The tick after `deadline`; if a run overran, the first tick after `now`, same phase."""
    deadline += interval
    if deadline <= now:  # skip the ticks the run ate, keep the phase
        deadline += math.ceil((now - deadline) / interval) * interval
    return deadline


def phase(name: str, interval: float) -> float:
    """A service's stable offset within the interval (the same name, the same offset)."""
    return zlib.crc32(name.encode()) % 1000 / 1000 * interval


async def every(
    interval: float, offset: float, stopping: asyncio.Event, tick: Callable[[], Awaitable[float]]
) -> None:
    """Call `tick` every `interval` after `offset`, on monotonic deadlines, until `stopping`.

    A tick that overruns skips the ticks it ate (never two at once, never a burst to catch up).
    A tick returns when it wants the next one: sooner than `interval` re-probes that long after
    the end of this one (a suspect side is confirmed fast), then the cadence resumes.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + offset
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), offset)
    while not stopping.is_set():
        step = await tick()
        now = loop.time()
        deadline = now + step if step < interval else next_deadline(deadline, interval, now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), deadline - now)


@dataclass(frozen=True)
class BoundProbe:
    """A built probe with what the round needs to know of it."""

    label: str
    probe: Probe
    timeout: float
    cluster: bool  # role: cluster (judges an idle warm/cold side)
    witness: bool = False  # another failoverd's verdict (a vantage point)


@dataclass(frozen=True)
class ProbeReport:
    """One probe's last result as /v1/status shows it."""

    probe: str
    ok: bool
    latency: float
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"probe": self.probe, "ok": self.ok, "latency": self.latency, "reason": self.reason}


@dataclass(frozen=True)
class Observed:
    """What one round saw: the machine's input and the per-side reports."""

    round: machine.Round
    reports: dict[Side, list[ProbeReport]]


async def _observe_one(bp: BoundProbe, on_crash: Callable[[str], None]) -> Observation:
    try:
        return await asyncio.wait_for(bp.probe(), bp.timeout + BACKSTOP)
    except TimeoutError:
        return Observation(False, bp.timeout + BACKSTOP, "probe did not return")
    except Exception as e:  # a probe bug must not stop the loop
        on_crash(bp.label)
        return Observation(False, 0.0, f"probe error: {type(e).__name__}")


async def observe(
    service: str,
    bound: dict[Side, list[BoundProbe]],
    metrics: Metrics,
    on_crash: Callable[[str], None] = lambda label: None,
) -> Observed:
    """Run every probe of both sides concurrently; record each in the metrics."""
    everything = [(side, bp) for side in SIDES for bp in bound[side]]
    results = await asyncio.gather(*(_observe_one(bp, on_crash) for _, bp in everything))
    seen: dict[Side, list[machine.ProbeResult]] = {"primary": [], "standby": []}
    reports: dict[Side, list[ProbeReport]] = {"primary": [], "standby": []}
    for (side, bp), obs in zip(everything, results, strict=True):
        seen[side].append(machine.ProbeResult(obs.ok, bp.cluster, bp.label, bp.witness))
        reports[side].append(ProbeReport(bp.label, obs.ok, round(obs.latency, 6), obs.detail))
        metrics.probe_up.labels(service, side, bp.label).set(1 if obs.ok else 0)
        metrics.probe_duration.labels(service, side, bp.label).observe(obs.latency)
        if obs.age is not None:
            metrics.witness_age.labels(service, side, bp.label).set(obs.age)
    return Observed(machine.Round(tuple(seen["primary"]), tuple(seen["standby"])), reports)
