"""Traffic switches: the one thing that decides which side users reach.

Each switch offers three idempotent coroutines: `current()` says which side traffic points at
(so a daemon started on an already-failed-over record adopts it), `switch(side)` points it
there, and `verify(side)` reads it back from the source of truth. Errors are classified once,
here: a TransientError is retried by the plan, a PermanentError (bad credentials, refused,
invalid request) blocks the service with the server's own words.
"""

from __future__ import annotations

from typing import Protocol

from failoverd import config
from failoverd.errors import PermanentError, TransientError
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

    @property
    def switch_timeout(self) -> float:
        """The longest one switch() may take (Route 53 waits until its change is INSYNC)."""


__all__ = ["PermanentError", "Switch", "TransientError", "build", "side_of"]


def build(spec: config.TrafficSpec) -> Switch:
    # Imported here so that a host using only DNS never loads boto3 (and the reverse).
    if spec.rfc2136 is not None:
        from failoverd.traffic.rfc2136 import Rfc2136Switch

        return Rfc2136Switch(spec.rfc2136)
    if spec.route53 is not None:
        from failoverd.traffic.route53 import Route53Switch

        return Route53Switch(spec.route53)
    assert spec.elbv2 is not None
    from failoverd.traffic.elbv2 import Elbv2Switch

    return Elbv2Switch(spec.elbv2)


def side_of(values: list[str], primary: list[str], standby: list[str]) -> Side | None:
    """Which side a set of record values belongs to (order and case do not matter)."""

    def norm(vs: list[str]) -> list[str]:
        return sorted(v.lower().rstrip(".") for v in vs)

    if norm(values) == norm(primary):
        return "primary"
    if norm(values) == norm(standby):
        return "standby"
    return None
