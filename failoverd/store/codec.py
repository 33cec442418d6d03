"""The one place records become JSON and JSON becomes records, with a schema version.

Schema 3 is what this version writes: one small document per service (so a transition
rewrites one service, whatever the number of services), and a manifest in the state file that
says so. Schemas 1 and 2 (one file holding every service; in 1, plans, events and job states
were free-form dicts) are read through `decode`, which upgrades them, so an upgraded daemon
resumes a plan journaled by an older one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any, cast

from failoverd.machine import Blocked, Hold, ServiceState, Side, State
from failoverd.store.records import (
    DrillCheck,
    DrillRecord,
    Event,
    JobRecord,
    PlanRecord,
    ServiceRecord,
    Step,
    UndoEntry,
)

SCHEMA_VERSION = 3  # what this version writes
WHOLE_FILE_SCHEMA = 2  # the last schema that kept every service in the one file


def _side(value: Any) -> Side:
    if value not in ("primary", "standby"):
        raise ValueError(f"side {value!r} is neither primary nor standby")
    return cast(Side, value)


def machine_to_dict(st: ServiceState) -> dict[str, Any]:
    return {
        "state": st.state.value,
        "active": st.active,
        "blocked": st.blocked.value if st.blocked else None,
        "last_move_at": st.last_move_at,
        "paused_after_plan": st.paused_after_plan,
        "paused_until": st.paused_until,
        "proposed_at": st.proposed_at,
        "held": _hold_to(st.held),
    }


def _hold_to(hold: Hold | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {"state": hold.state.value, "blocked": hold.blocked.value if hold.blocked else None}


def machine_from_dict(d: dict[str, Any]) -> ServiceState:
    return ServiceState(
        state=State(d["state"]),
        active=_side(d["active"]),
        blocked=Blocked(d["blocked"]) if d.get("blocked") else None,
        last_move_at=d.get("last_move_at"),
        paused_after_plan=bool(d.get("paused_after_plan", False)),
        paused_until=_finite(d.get("paused_until")),
        proposed_at=d.get("proposed_at"),
        held=_hold_from(d.get("held")),
    )


def _finite(value: Any) -> float | None:
    """A stored time, or None: a non-finite one (an infinite pause written before durations
    were bounded) would make /v1/status print Infinity, which is not JSON; it reads as a pause
    without an end, which is what it meant."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _hold_from(d: Any) -> Hold | None:
    if not d:
        return None
    return Hold(State(d["state"]), Blocked(d["blocked"]) if d.get("blocked") else None)


def plan_to_dict(plan: PlanRecord) -> dict[str, Any]:
    return asdict(plan)


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


def plan_from_dict(d: dict[str, Any]) -> PlanRecord:
    steps = [Step(**_known(Step, s)) for s in d["steps"]]
    plan = PlanRecord(**{**_known(PlanRecord, d), "steps": steps})
    plan.source, plan.target = _side(plan.source), _side(plan.target)
    return plan


def event_to_dict(e: Event) -> dict[str, Any]:
    return {
        "time": e.time,
        "service": e.service,
        "from": e.from_state,
        "to": e.to_state,
        "active": e.active,
        "reason": e.reason,
    }


def event_from_dict(d: dict[str, Any]) -> Event:
    return Event(
        float(d["time"]),
        str(d["service"]),
        str(d["from"]),
        str(d["to"]),
        _side(d["active"]),
        str(d.get("reason", "")),
    )


def job_to_dict(j: JobRecord) -> dict[str, Any]:
    return asdict(j)


def job_from_dict(d: dict[str, Any]) -> JobRecord:
    return JobRecord(**_known(JobRecord, d))


def drill_to_dict(d: DrillRecord) -> dict[str, Any]:
    return asdict(d)


def drill_from_dict(d: dict[str, Any]) -> DrillRecord:
    checks = [DrillCheck(**_known(DrillCheck, c)) for c in d.get("checks", [])]
    undo = [UndoEntry(**_known(UndoEntry, u)) for u in d.get("undo", [])]
    return DrillRecord(**{**_known(DrillRecord, d), "checks": checks, "undo": undo})


def record_to_dict(r: ServiceRecord) -> dict[str, Any]:
    return {
        "machine": machine_to_dict(r.machine),
        "plan": plan_to_dict(r.plan) if r.plan else None,
        "last_failover": plan_to_dict(r.last_failover) if r.last_failover else None,
        "history": [event_to_dict(e) for e in r.history],
        "replication": {name: job_to_dict(j) for name, j in r.replication.items()},
        "drill": drill_to_dict(r.drill) if r.drill else None,
        "drills": [drill_to_dict(d) for d in r.drills],
    }


def record_from_dict(d: dict[str, Any]) -> ServiceRecord:
    return ServiceRecord(
        machine=machine_from_dict(d["machine"]),
        plan=plan_from_dict(d["plan"]) if d.get("plan") else None,
        last_failover=plan_from_dict(d["last_failover"]) if d.get("last_failover") else None,
        history=[event_from_dict(e) for e in d.get("history", [])],
        replication={n: job_from_dict(j) for n, j in d.get("replication", {}).items()},
        drill=drill_from_dict(d["drill"]) if d.get("drill") else None,
        drills=[drill_from_dict(x) for x in d.get("drills", [])],
    )


def encode_service(name: str, record: ServiceRecord) -> dict[str, Any]:
    """One service's document (schema 3)."""
    return {"schema": SCHEMA_VERSION, "service": name, "record": record_to_dict(record)}


def decode_service(data: Any) -> tuple[str, ServiceRecord]:
    if data["schema"] != SCHEMA_VERSION:
        raise ValueError(f"schema {data['schema']!r}")
    return str(data["service"]), record_from_dict(data["record"])


def _upgrade_1(data: dict[str, Any]) -> dict[str, Any]:
    """0.1 wrote events without `active` when nothing moved and jobs without counters."""
    for rec in data["services"].values():
        active = rec["machine"]["active"]
        for e in rec.get("history", []):
            e.setdefault("active", active)
            e.setdefault("service", "")
        for job in rec.get("replication", {}).values():
            job.setdefault("failures", 0)
    return {**data, "schema": 2}


_UPGRADES = {1: _upgrade_1}


def decode(data: Any) -> dict[str, ServiceRecord]:
    """Records from a whole-file document (schema 1 or 2).

    Raises ValueError / KeyError / TypeError on a document that is not one.
    """
    version = data["schema"]
    while version in _UPGRADES:
        data = _UPGRADES[version](data)
        version = data["schema"]
    if version != WHOLE_FILE_SCHEMA:
        raise ValueError(f"schema {version!r}")
    return {name: record_from_dict(rec) for name, rec in data["services"].items()}
