"""The views are pure: a record and what the runner saw, with the time passed in."""

from __future__ import annotations

from dataclasses import replace

from failoverd import config
from failoverd.machine import Policy, ServiceState, State
from failoverd.runtime import views
from failoverd.runtime.probing import ProbeReport
from failoverd.store.records import DrillRecord, ServiceRecord
from tests.lab.fakes import GOOD_CONFIG, a_plan

REPORT = ProbeReport("healthz", True, 0.01, "HTTP 200")


def seen(**kw: object) -> views.Seen:
    return views.Seen(reports={"primary": [REPORT], "standby": [REPORT]}, **kw)  # type: ignore[arg-type]


def test_a_pending_proposal_says_what_failing_over_would_cost_at_the_given_time():
    cfg = config.parse(GOOD_CONFIG).services["web"]
    policy = Policy(automation="propose", approval_timeout=600.0, recovery_threshold=2)
    st = ServiceState(
        state=State.PENDING_APPROVAL,
        proposed_at=1000.0,
        oks={"primary": 0, "standby": 5},
        last_ok_at={"primary": 990.0, "standby": 1100.0},
    )
    rec = ServiceRecord(machine=st, last_failover=replace(a_plan("p0"), rto_seconds=7.5))
    rec.drills.insert(
        0,
        DrillRecord(
            id="d1",
            service="web",
            kind="readiness",
            reason="",
            started=1.0,
            outcome="passed",
            projected_rto_seconds=9.0,
        ),
    )
    out = views.status(cfg, policy, rec, seen(rpo=12.0, replication_ages={"db": 12.0}), 1100.0)
    assert out["state"] == "pending_approval" and out["ready"]["standby"]
    p = out["proposal"]
    assert (p["expires_in_seconds"], p["outage_seconds"]) == (500.0, 110.0)
    assert p["estimated_data_loss_seconds"] == 12.0 and p["last_rto_seconds"] == 7.5
    assert p["last_drill"] == {
        "id": "d1",
        "kind": "readiness",
        "outcome": "passed",
        "finished": None,
        "rto_seconds": 9.0,
    }


def test_a_follower_shows_the_leaders_state_with_the_same_keys_as_the_leader():
    rec = ServiceRecord(
        machine=ServiceState(state=State.STANDBY_ACTIVE, active="standby"), plan=a_plan("p1")
    )
    cfg = config.parse(GOOD_CONFIG).services["web"]
    full = views.status(cfg, Policy(), rec, seen(), 0.0)
    overlay = views.leader_state(rec)
    assert overlay.items() <= full.items()
    assert overlay["plan"]["id"] == "p1" and overlay["active"] == "standby"
