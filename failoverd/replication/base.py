"""What every replication job kind shares: the Job type, its context and the registry.

A job is an async callable that does one run and returns a short note (or raises). Each kind
is one module of this package that registers a builder under its config key; `build` imports
a kind's module only when a config uses it.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from failoverd.kube import Clusters

Job = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class JobContext:
    """Who the job works for: the service and job name (for commands' environment), its mode."""

    service: str
    job: str
    mode: Literal["hot", "warm", "cold"]
    clusters: Clusters


Builder = Callable[[Any, JobContext], Job]
_BUILDERS: dict[str, Builder] = {}


def register(kind: str) -> Callable[[Builder], Builder]:
    """Register the builder of one job kind (the config key, e.g. "s3_snapshot")."""

    def deco(fn: Builder) -> Builder:
        _BUILDERS[kind] = fn
        return fn

    return deco


def builder(kind: str) -> Builder:
    """The builder of `kind`, importing its module on first use."""
    if kind not in _BUILDERS:
        importlib.import_module(f"failoverd.replication.{kind}")
    return _BUILDERS[kind]
