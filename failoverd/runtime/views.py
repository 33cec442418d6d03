"""What an operator reads about a service: status, explain, a proposal, a witness's view.

Pure functions over the service's record and what its runner last saw (`Seen`), with the time
passed in: the same keys whichever replica answers (a follower overlays the leader's record
with `leader_state`), and testable without a running loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from failoverd import machine
from failoverd.config import ServiceConfig
from failoverd.machine import SIDES, Decision, Policy, ServiceState, Side
from failoverd.runtime.probing import ProbeReport
from failoverd.store.codec import plan_to_dict
from failoverd.store.records import ServiceRecord


@dataclass(frozen=True)
class Seen:
    """What a runner saw last, beside its record: the probes, its verdict, replication's age."""

    reports: dict[Side, list[ProbeReport]]
    witnesses: list[ProbeReport] = field(default_factory=list)  # the primary side's witnesses
    verdict: dict[Side, bool] = field(default_factory=dict)
    verdict_at: float | None = None  # wall time of that round
    round_age: float | None = None  # seconds since the last round completed
    rpo: float | None = None
    replication_ages: dict[str, float | None] = field(default_factory=dict)
    replication: dict[str, Any] = field(default_factory=dict)  # each job's status


def leader_state(rec: ServiceRecord) -> dict[str, Any]:
    """The keys that come from the acting replica's record (a follower shows the leader's)."""
    st = rec.machine
    return {
        "state": st.state.value,
        "active": st.active,
        "blocked": st.blocked.value if st.blocked else None,
        "plan": plan_to_dict(rec.plan) if rec.plan else None,
        "last_failover": plan_to_dict(rec.last_failover) if rec.last_failover else None,
    }


def status(
    cfg: ServiceConfig, policy: Policy, rec: ServiceRecord, seen: Seen, now: float
) -> dict[str, Any]:
    """One service in GET /v1/status."""
    st = rec.machine
    pending = st.state == machine.State.PENDING_APPROVAL
    return {
        **leader_state(rec),
        "mode": cfg.mode,
        "observe_only": policy.observe_only,
        "automation": policy.automation,
        "paused_until": st.paused_until,
        "proposal": proposal(policy, rec, seen, now) if pending else None,
        "ready": {side: machine.ready(st, side, policy) for side in SIDES},
        "probes": {s: [r.as_dict() for r in seen.reports[s]] for s in SIDES},
        "last_round_age_seconds": None if seen.round_age is None else round(seen.round_age, 3),
        "replication": seen.replication,
    }


def proposal(policy: Policy, rec: ServiceRecord, seen: Seen, now: float) -> dict[str, Any]:
    """What failing over now would cost, for the operator who approves or rejects it."""
    st = rec.machine
    outage = st.last_ok_at["primary"]
    last = rec.last_failover
    expires = None if st.proposed_at is None else st.proposed_at + policy.approval_timeout - now
    return {
        "proposed_at": st.proposed_at,
        "expires_in_seconds": None if expires is None else round(expires, 1),
        "on_timeout": policy.on_timeout,
        "outage_seconds": None if outage is None else round(now - outage, 1),
        "estimated_data_loss_seconds": seen.rpo,
        "replication_ages": seen.replication_ages,
        "standby_ready": machine.ready(st, "standby", policy),
        "witnesses": [r.as_dict() for r in seen.witnesses],
        "last_rto_seconds": last.rto_seconds if last else None,
        "last_drill": last_drill(rec),
    }


def last_drill(rec: ServiceRecord) -> dict[str, Any] | None:
    """The newest finished drill's verdict and RTO (measured or projected), for a proposal."""
    d = next((d for d in rec.drills if d.outcome != "running"), None)
    if d is None:
        return None
    rto = d.rto_seconds if d.rto_seconds is not None else d.projected_rto_seconds
    return {
        "id": d.id,
        "kind": d.kind,
        "outcome": d.outcome,
        "finished": d.finished,
        "rto_seconds": rto,
    }


def view(
    name: str, interval: float, policy: Policy, st: ServiceState, seen: Seen, now: float
) -> dict[str, Any]:
    """This daemon's own verdict per side, for witnesses (GET /v1/services/NAME/view)."""
    return {
        "service": name,
        "time": now,
        "interval": interval,
        "observe_only": policy.observe_only,
        "sides": {
            side: {
                "healthy": seen.verdict.get(side, False),
                "observed_at": seen.verdict_at,
                "consecutive_ok": st.oks[side],
                "consecutive_failed": st.fails[side],
            }
            for side in SIDES
        },
    }


def explain(
    before: ServiceState, decision: Decision, policy: Policy, seen: Seen, now: float
) -> dict[str, Any]:
    """Every input of a decision and its reason, for `failoverd explain`."""
    after, p = decision.state, policy
    return {
        "time": now,
        "from": before.state.value,
        "to": after.state.value,
        "active": after.active,
        "reason": decision.reason,
        "actions": [
            type(a).__name__ + ": " + getattr(a, "event", getattr(a, "kind", ""))
            for a in decision.actions
        ],
        "probes": {s: [r.as_dict() for r in seen.reports[s]] for s in SIDES},
        "quorum": p.quorum,
        "mode": p.mode,
        "automation": p.automation,
        "verdict": dict(seen.verdict),
        "consecutive_failed": dict(after.fails),
        "consecutive_ok": dict(after.oks),
        "failure_threshold": p.failure_threshold,
        "recovery_threshold": p.recovery_threshold,
        "ready": {s: machine.ready(after, s, p) for s in SIDES},
        "hold_down_left_seconds": round(machine.hold_down_left(after, now, p), 1),
        "paused_until": after.paused_until,
        "proposed_at": after.proposed_at,
        "rpo_seconds": seen.rpo,
        "replication_ages": seen.replication_ages,
    }
