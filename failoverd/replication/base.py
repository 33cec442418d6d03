"""What every replication job kind shares: the Job type, its context and the registry.

A job is an async callable that does one run and returns a short note (or raises). Each kind
is one module of this package that registers a builder under its config key; `build` imports
a kind's module only when a config uses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from failoverd.kit.registry import Registry

if TYPE_CHECKING:
    from failoverd.clients.clusters import Clusters

Job = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class JobContext:
    """Who the job works for: the service and job name (for commands' environment), its mode."""

    service: str
    job: str
    mode: Literal["hot", "warm", "cold"]
    clusters: Clusters


Builder = Callable[[Any, JobContext], Job]
REGISTRY: Registry[Builder] = Registry("failoverd.replication")
register = REGISTRY.register
builder = REGISTRY.builder
