"""Witness probe: another failoverd's own verdict on this side, from another vantage point.

It reads the peer's `GET /v1/services/NAME/view`: healthy when the peer's last round on the
same side passed by the peer's quorum and is fresh (observed within 2 of the peer's
intervals). A peer that cannot be reached, does not know the service, or answers stale counts
as failed for this probe, so the quorum decides, as with any probe.
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import aiohttp

from failoverd.config import WitnessProbe as Spec
from failoverd.probes.base import Observation, ProbeContext, Timer, register

FRESH_INTERVALS = 2.0


class Verdict(NamedTuple):
    """What a peer's answer says about one side, every field checked."""

    healthy: bool
    age: float  # seconds since the peer's round, by the peer's clock
    interval: float  # the peer's round interval
    rounds: str  # consecutive failed rounds, as the peer counts them ("?" if it did not say)


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
                view: Any = await resp.json()
        except TimeoutError:
            return t.failed(f"{self.name}: no answer within {self.spec.timeout:g}s")
        except (aiohttp.ClientError, ValueError) as e:
            return t.failed(f"{self.name}: {type(e).__name__}: {e}")
        return self.judge(view, t)

    def judge(self, view: Any, t: Timer) -> Observation:
        """The peer's verdict on this side; any answer it cannot be read from fails the probe."""
        try:
            verdict = self._read(view)
        except BadAnswer as e:
            return t.failed(f"{self.name}: {e}")
        if verdict is None:
            return t.failed(f"{self.name}: has not probed the {self.side} yet")
        window = FRESH_INTERVALS * verdict.interval
        if verdict.age < -window:  # both stamps are the peer's own clock: no skew explains it
            return t.failed(f"{self.name}: its verdict is from the future ({-verdict.age:.1f}s)")
        age = max(0.0, verdict.age)
        if age > window:
            return Observation(
                False,
                t.result(False, "").latency,
                f"{self.name}: its verdict is stale ({age:.1f}s old)",
                age,
            )
        healthy = verdict.healthy
        seen = "sees it up" if healthy else f"sees it down ({verdict.rounds} rounds)"
        return Observation(healthy, t.result(healthy, "").latency, f"{self.name} {seen}", age)

    def _read(self, view: Any) -> Verdict | None:
        """The verdict in the peer's answer (None: not probed yet), or BadAnswer saying why not."""
        if not isinstance(view, dict):
            raise BadAnswer(f"answered {_kind(view)}, not an object")
        sides = view.get("sides")
        side = sides.get(self.side) if isinstance(sides, dict) else None
        if not isinstance(side, dict):
            raise BadAnswer(f"no verdict on the {self.side} in its answer")
        healthy = side.get("healthy")
        if not isinstance(healthy, bool):
            raise BadAnswer(f"sides.{self.side}.healthy is not true or false: {_shown(healthy)}")
        interval = _number(view, "interval", "interval")
        if interval <= 0:
            raise BadAnswer(f"interval is not above 0: {_shown(view['interval'])}")
        if side.get("observed_at") is None:
            return None
        observed = _number(side, "observed_at", f"sides.{self.side}.observed_at")
        now = _number(view, "time", "time") if "time" in view else time.time()
        failed = side.get("consecutive_failed")
        counted = isinstance(failed, int) and not isinstance(failed, bool) and 0 <= failed < 1e9
        rounds = str(failed) if counted else "?"
        return Verdict(healthy, now - observed, interval, rounds)


class BadAnswer(ValueError):
    """The peer's answer lacks a field or carries one this probe cannot use."""


def _number(doc: dict[str, Any], key: str, field: str) -> float:
    """A finite number from the peer's answer (JSON may carry NaN, 1e400 or 400 digits)."""
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadAnswer(f"{field} is not a number: {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise BadAnswer(f"{field} is not a finite number: {_shown(value)}")
    return number


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@register("witness")
def build(spec: Spec, ctx: ProbeContext) -> WitnessProbe:
    return WitnessProbe(spec, ctx.session, ctx.service, ctx.side)
