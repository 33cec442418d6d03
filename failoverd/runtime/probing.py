"""One service's rounds: what one round of probes observed.

A round runs every probe of both sides concurrently, each bounded by its own timeout (and a
backstop here, for a probe that does not honour it), and folds the results into the frozen
`machine.Round` the decision core reads, plus the per-probe reports the status shows. When
rounds run is kit/cadence.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from failoverd import machine
from failoverd.kit.metrics import Metrics
from failoverd.machine import SIDES, Side
from failoverd.probes.base import Observation, Probe

BACKSTOP = 1.0  # seconds past a probe's own timeout before the round gives up on it


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
