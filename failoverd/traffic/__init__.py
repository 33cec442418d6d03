"""Traffic switches: one module per kind (rfc2136, route53, elbv2) over base.py's registry."""

from __future__ import annotations

from failoverd.config import TrafficSpec
from failoverd.traffic.base import NoSwitch, Switch, builder, side_of

__all__ = ["NoSwitch", "Switch", "build", "side_of"]


def build(spec: TrafficSpec | None) -> Switch:
    """The switch for a service's `traffic:` section (NoSwitch for an observe-only service)."""
    if spec is None:
        return NoSwitch()
    return builder(spec.kind)(spec.spec)
