"""Traffic switches: one module per kind (rfc2136, route53, elbv2) over base.py's registry."""

from __future__ import annotations

from failoverd.config import TrafficSpec
from failoverd.traffic.base import Switch, builder, side_of

__all__ = ["Switch", "build", "side_of"]


def build(spec: TrafficSpec) -> Switch:
    """The switch for a service's `traffic:` section, built by its kind's registered builder."""
    return builder(spec.kind)(spec.spec)
