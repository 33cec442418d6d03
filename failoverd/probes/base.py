"""What every probe kind shares: the Observation it returns, its timing, and the registry.

A probe is an async callable that looks at one thing once and returns an Observation. It never
raises for a failed target: failure is data (ok=False with a short reason). It enforces its own
timeout, so one slow target cannot stretch a round. Each kind is one module of this package
that registers a builder under its config key; `failoverd.probes.build` imports the module of a
kind only when a config uses it (so a host without Kubernetes probes never loads its client).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from failoverd.kit.registry import Registry
from failoverd.machine import Side

if TYPE_CHECKING:
    import aiohttp

    from failoverd.clients.clusters import Clusters


@dataclass(frozen=True)
class Observation:
    ok: bool
    latency: float
    detail: str
    age: float | None = None  # a witness's answer: how old the peer's verdict was


Probe = Callable[[], Awaitable[Observation]]


class Timer:
    """Started at creation; each result carries the monotonic time since then as its latency."""

    __slots__ = ("start",)

    def __init__(self) -> None:
        self.start = time.monotonic()

    def result(self, ok: bool, detail: str) -> Observation:
        return Observation(ok, time.monotonic() - self.start, detail)

    def failed(self, detail: str) -> Observation:
        return Observation(False, time.monotonic() - self.start, detail[:200])


@dataclass(frozen=True)
class ProbeContext:
    """What probes may share (the HTTP session, Kubernetes clients) and whom they probe for."""

    session: aiohttp.ClientSession
    clusters: Clusters
    service: str = ""
    side: Side = "primary"


Builder = Callable[[Any, ProbeContext], Probe]
REGISTRY: Registry[Builder] = Registry("failoverd.probes")
register = REGISTRY.register
builder = REGISTRY.builder
