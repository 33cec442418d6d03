"""The tests' stand-ins, in one place: a traffic switch and a store in memory, a journaled plan,
a config that validates, an audit kept in memory. Everything else in the lab is a real server."""

from __future__ import annotations

from failoverd.machine import Side, StartPlan, State
from failoverd.store.records import PlanRecord, ServiceRecord, Step


class MemorySwitch:
    """A traffic switch in memory; `fail_after_write` lands the write, then raises."""

    switch_timeout = 1.0

    def __init__(self, at: Side = "primary") -> None:
        self.at: Side | None = at
        self.writes: list[Side] = []
        self.fail_after_write: Exception | None = None
        self.fail_verify: Exception | None = None

    async def current(self) -> Side | None:
        return self.at

    async def switch(self, side: Side) -> None:
        self.writes.append(side)
        self.at = side
        if self.fail_after_write is not None:
            raise self.fail_after_write

    async def verify(self, side: Side) -> None:
        if self.fail_verify is not None:
            raise self.fail_verify
        assert self.at == side

    def describe(self, side: Side) -> str:
        return f"memory -> {side}"


class MemoryStore:
    """Records what was saved (the state of each save); `broken` makes saves fail like a full disk."""

    def __init__(self) -> None:
        self.saves: list[State] = []
        self.broken: OSError | None = None

    async def save(self, name: str, record: ServiceRecord) -> None:
        if self.broken is not None:
            raise self.broken
        self.saves.append(record.machine.state)


class KeptAudit:
    """The audit lines, kept in memory."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def load_audit(self) -> list[str]:
        return self.lines

    async def append_audit(self, line: str) -> None:
        self.lines.append(line)


def a_plan(plan_id: str) -> PlanRecord:
    action = StartPlan("failover", "auto", "standby", "primary down", outage_started=5.0)
    return PlanRecord(
        **{**PlanRecord.new(action, [Step("switch"), Step("verify")], 9.0).__dict__, "id": plan_id}
    )


GOOD_CONFIG = """\
services:
  web:
    primary: a
    standby: b
    probes:
      primary:
        - http: {url: "http://127.0.0.1:1/healthz"}
      standby:
        - tcp: {host: 127.0.0.1, port: 2}
    traffic:
      rfc2136: {server: "127.0.0.1:53", zone: ex.test., name: www.ex.test.,
                primary: [192.0.2.1], standby: [192.0.2.2]}
"""
