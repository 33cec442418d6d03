"""Drills against real plans: what a drill may put back once a real plan owns a side."""

from __future__ import annotations

from failoverd.machine.state import Side


def may_undo(side: Side | None, active: Side, plan_target: Side | None) -> bool:
    """May a drill put back (scale down, delete) what it changed on `side`?

    Never on the side serving traffic, nor on the target of a plan in flight: a real failover
    that interrupted a drill owns the standby the drill scaled up, and undoing there would take
    away what the plan is preparing or what now serves. A change whose side is unknown (a
    journal written before sides were recorded) is put back only while no plan runs.
    """
    if side is None:
        return plan_target is None
    return side != active and side != plan_target
