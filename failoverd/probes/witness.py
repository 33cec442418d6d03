"""Witness probe: another failoverd's own verdict on this side, from another vantage point.

It reads the peer's `GET /v1/services/NAME/view`: healthy when the peer's last round on the
same side passed by the peer's quorum and is fresh (observed within 2 of the peer's
intervals). A peer that cannot be reached, does not know the service, or answers stale counts
as failed for this probe, so the quorum decides, as with any probe.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from failoverd.config import WitnessProbe as Spec
from failoverd.probes.base import Observation, ProbeContext, Timer, register

FRESH_INTERVALS = 2.0


class WitnessProbe:
    def __init__(self, spec: Spec, session: aiohttp.ClientSession, service: str, side: str) -> None:
        self.spec, self.session, self.side = spec, session, side
        self.url = f"{spec.api}/v1/services/{spec.service or service}/view"
        self.name = spec.name or "witness"
        self.timeout = aiohttp.ClientTimeout(total=spec.timeout)
        self.headers = {}
        if spec.token_file is not None:
            self.headers["Authorization"] = f"Bearer {spec.token_file.read_text().strip()}"

    async def __call__(self) -> Observation:
        t = Timer()
        try:
            async with self.session.get(
                self.url, timeout=self.timeout, headers=self.headers, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    return t.failed(f"{self.name}: HTTP {resp.status}")
                view: dict[str, Any] = await resp.json()
        except TimeoutError:
            return t.failed(f"{self.name}: no answer within {self.spec.timeout:g}s")
        except (aiohttp.ClientError, ValueError) as e:
            return t.failed(f"{self.name}: {type(e).__name__}: {e}")
        return self.judge(view, t)

    def judge(self, view: dict[str, Any], t: Timer) -> Observation:
        try:
            side = view["sides"][self.side]
            healthy, observed = bool(side["healthy"]), side["observed_at"]
            interval = float(view["interval"])
        except (KeyError, TypeError, ValueError):
            return t.failed(f"{self.name}: no verdict on the {self.side} in its answer")
        if observed is None:
            return t.failed(f"{self.name}: has not probed the {self.side} yet")
        age = max(0.0, float(view.get("time", time.time())) - float(observed))
        if age > FRESH_INTERVALS * interval:
            return Observation(False, t.result(False, "").latency,
                               f"{self.name}: its verdict is stale ({age:.1f}s old)", age)  # fmt: skip
        verdict = (
            "sees it up" if healthy else f"sees it down ({side.get('consecutive_failed')} rounds)"
        )
        return Observation(healthy, t.result(healthy, "").latency, f"{self.name} {verdict}", age)


@register("witness")
def build(spec: Spec, ctx: ProbeContext) -> WitnessProbe:
    return WitnessProbe(spec, ctx.session, ctx.service, ctx.side)
