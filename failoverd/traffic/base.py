"""What every traffic switch shares: the Switch protocol, reading sides from values, the registry.

Each switch offers three idempotent coroutines: `current()` says which side traffic points at
(so a daemon started on an already-failed-over record adopts it), `switch(side)` points it
there, and `verify(side)` reads it back from the source of truth. Each switch module classifies
its own errors (errors.py): a TransientError is retried by the plan, a PermanentError (bad
credentials, refused, invalid request) blocks the service with the server's own words. Each
kind is one module of this package that registers a builder under its config key; the
package's `build` imports a kind's module only when a config uses it (a host using only DNS
never loads boto3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from failoverd.kit.errors import PermanentError
from failoverd.kit.registry import Registry
from failoverd.machine import Side


class Switch(Protocol):
    async def current(self) -> Side | None:
        """The side traffic points at now, None when it matches neither side's values."""

    async def switch(self, side: Side) -> None:
        """Point traffic at `side`; doing it twice is the same as once."""

    async def verify(self, side: Side) -> None:
        """Raise TransientError unless the source of truth says traffic points at `side`."""

    def describe(self, side: Side) -> str:
        """Where `side` sends traffic, in words for logs and the status."""

    async def drill_check(self, token: str) -> str:
        """Prove the credentials can change what this switch controls, without touching it.

        DNS: write a TXT record `_failoverd-drill.NAME`, read it back, delete it. A load
        balancer: read the listener (no weight changes). Raises ActionError on any failure.
        """

    @property
    def switch_timeout(self) -> float:
        """The longest one switch() may take (Route 53 waits until its change is INSYNC)."""


class NoSwitch:
    """An observe-only service's switch: it moves nothing and says so if ever asked to."""

    switch_timeout = 1.0

    async def current(self) -> Side | None:
        raise PermanentError("observe-only: this instance controls no traffic")

    async def switch(self, side: Side) -> None:
        raise PermanentError("observe-only: this instance never moves traffic")

    async def verify(self, side: Side) -> None:
        raise PermanentError("observe-only: this instance never moves traffic")

    def describe(self, side: Side) -> str:
        return "nothing (observe-only)"

    async def drill_check(self, token: str) -> str:
        raise PermanentError("observe-only: there is no traffic switch to drill")


def side_of(values: list[str], primary: list[str], standby: list[str]) -> Side | None:
    """Which side a set of record values belongs to (order and case do not matter)."""

    def norm(vs: list[str]) -> list[str]:
        return sorted(v.lower().rstrip(".") for v in vs)

    if norm(values) == norm(primary):
        return "primary"
    if norm(values) == norm(standby):
        return "standby"
    return None


Builder = Callable[[Any], Switch]
REGISTRY: Registry[Builder] = Registry("failoverd.traffic")
register = REGISTRY.register
builder = REGISTRY.builder
