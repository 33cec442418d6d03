"""The state file: atomic, versioned, locked; a bad file is an error, never replaced."""

from __future__ import annotations

import json
import os

import pytest
import structlog

from failoverd.machine import Blocked, ServiceState, State
from failoverd.store import (
    SCHEMA_VERSION,
    Event,
    FileStore,
    JobRecord,
    ServiceRecord,
    StoreError,
)
from failoverd.store.audit import AuditLog
from tests.lab.fakes import a_plan


def an_event(n: int) -> Event:
    return Event(float(n), "web", "primary_active", "primary_suspect", "primary", f"event {n}")


def test_a_saved_state_loads_back_the_same(tmp_path):
    store = FileStore(tmp_path / "state.json")
    st = ServiceState(
        state=State.BLOCKED, active="standby", blocked=Blocked.PLAN_FAILED, last_move_at=12.5
    )
    rec = ServiceRecord(machine=st, plan=a_plan("p1"), last_failover=a_plan("p0"))
    rec.plan.steps[0].status = "done"
    rec.add_event(an_event(1))
    rec.replication["db"] = JobRecord(last_success=3.5, failures=2, last_note="ok")
    store.save_all({"web": rec})
    (back,) = store.load().values()
    assert (back.machine.state, back.machine.active, back.machine.blocked) == (
        State.BLOCKED,
        "standby",
        Blocked.PLAN_FAILED,
    )
    assert back.machine.last_move_at == 12.5
    assert (back.plan, back.last_failover, back.history, back.replication) == (
        rec.plan,
        rec.last_failover,
        rec.history,
        rec.replication,
    )


def test_no_file_means_no_records_and_no_temp_files_are_left(tmp_path):
    store = FileStore(tmp_path / "state.json")
    assert store.load() == {}
    store.save_all({"web": ServiceRecord()})
    store.save_all({"web": ServiceRecord()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.d"]
    assert sorted(p.name for p in (tmp_path / "state.json.d").iterdir()) == ["web.json"]
    assert oct((tmp_path / "state.json").stat().st_mode & 0o777) == "0o600"


def test_a_corrupt_file_is_a_clear_error_and_is_left_in_place(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"schema": 1, "services": {"web": ')
    with pytest.raises(StoreError, match="corrupt"):
        FileStore(path).load()
    assert path.read_text() == '{"schema": 1, "services": {"web": '


def test_a_file_from_a_newer_failoverd_is_refused(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"schema": SCHEMA_VERSION + 1, "services": {}}))
    with pytest.raises(StoreError, match="newer than this failoverd"):
        FileStore(path).load()


def test_a_bad_state_name_in_the_file_is_corrupt_not_a_crash(tmp_path):
    path = tmp_path / "state.json"
    machine = {"state": "exploded", "active": "primary"}
    path.write_text(json.dumps({"schema": 1, "services": {"web": {"machine": machine}}}))
    with pytest.raises(StoreError, match="corrupt"):
        FileStore(path).load()


def test_a_second_store_on_the_same_file_cannot_lock_it(tmp_path):
    first, second = FileStore(tmp_path / "state.json"), FileStore(tmp_path / "state.json")
    first.lock()
    try:
        with pytest.raises(StoreError, match="another failoverd is running"):
            second.lock()
    finally:
        first.unlock()
    second.lock()
    second.unlock()
    assert (tmp_path / "state.json.lock").read_text().strip() == str(os.getpid())


def test_history_keeps_the_newest_first_and_is_bounded():
    rec = ServiceRecord()
    for i in range(250):
        rec.add_event(an_event(i))
    assert len(rec.history) == 200 and rec.history[0] == an_event(249)


def test_a_schema_1_file_of_failoverd_0_1_is_upgraded_and_its_plan_resumes(tmp_path):
    # what failoverd 0.1 wrote mid-failover: free-form dicts, events without `active`
    old = {
        "schema": 1,
        "services": {
            "web": {
                "machine": {
                    "state": "failing_over",
                    "active": "primary",
                    "blocked": None,
                    "last_move_at": None,
                    "paused_after_plan": False,
                },
                "plan": {
                    "id": "abc",
                    "kind": "failover",
                    "trigger": "auto",
                    "source": "primary",
                    "target": "standby",
                    "reason": "primary down",
                    "started": 10.0,
                    "outage_started": 4.0,
                    "result": "running",
                    "finished": None,
                    "rto_seconds": None,
                    "rpo_seconds": None,
                    "rpo_jobs": {},
                    "error": None,
                    "steps": [
                        {
                            "name": "switch",
                            "status": "running",
                            "attempts": 1,
                            "started": 10.0,
                            "duration_seconds": None,
                            "error": None,
                            "best_effort": False,
                            "output": None,
                        },
                        {
                            "name": "verify",
                            "status": "pending",
                            "attempts": 0,
                            "started": None,
                            "duration_seconds": None,
                            "error": None,
                            "best_effort": False,
                            "output": None,
                        },
                    ],
                },
                "last_failover": None,
                "history": [
                    {
                        "time": 9.0,
                        "service": "web",
                        "from": "primary_suspect",
                        "to": "failing_over",
                        "reason": "primary failed 3 consecutive rounds",
                    }
                ],
                "replication": {"db": {"last_success": 8.0, "last_error": None}},
            }
        },
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(old))
    (rec,) = FileStore(path).load().values()
    assert rec.plan is not None and rec.plan.id == "abc"
    assert [(s.name, s.status) for s in rec.plan.steps] == [
        ("switch", "running"),
        ("verify", "pending"),
    ]
    assert rec.history[0].active == "primary" and rec.history[0].to_state == "failing_over"
    assert rec.replication["db"] == JobRecord(last_success=8.0, failures=0)
    FileStore(path).save_all({"web": rec})
    assert json.loads(path.read_text())["schema"] == SCHEMA_VERSION == 3


async def test_the_audit_file_is_trimmed_as_it_grows_not_only_at_start(tmp_path):
    store = FileStore(tmp_path / "state.json")
    store.audit_limit = 10  # the daemon's is 10,000: the file holds at most twice as many
    (tmp_path / "state.json.audit").write_text("".join(f'{{"n": {n}}}\n' for n in range(-5, 0)))
    store.lock()
    audit = AuditLog(store, structlog.get_logger(), wall=lambda: 1.0, limit=10)
    await audit.load()
    sizes = []
    try:
        for n in range(55):
            audit.record("alice", "pause", "web", "accepted", n=n)
            await audit.flush()
            sizes.append(len(store.audit_path.read_text().splitlines()))
    finally:
        store.unlock()
    assert max(sizes) == 20 and min(sizes[20:]) == 10, sizes
    kept = [json.loads(line)["n"] for line in store.audit_path.read_text().splitlines()]
    assert kept == list(range(55 - len(kept), 55)), "the newest lines, in order"
    again = FileStore(tmp_path / "state.json")
    again.audit_limit = 10
    assert [json.loads(line)["n"] for line in await again.load_audit()] == kept


def test_a_drills_undo_journal_is_typed_and_an_older_one_still_reads():
    from failoverd.store.codec import drill_from_dict, drill_to_dict
    from failoverd.store.records import DrillRecord, UndoEntry

    entry = UndoEntry("scale", "shanghai", "deployment", "default", "webapp", "standby", 0)
    d = DrillRecord(id="d1", service="web", kind="readiness", reason="", started=1.0)
    d.undo.append(entry)
    assert drill_from_dict(json.loads(json.dumps(drill_to_dict(d)))).undo == [entry]
    older = {
        **drill_to_dict(d),
        "undo": [
            {
                "action": "delete",
                "cluster": "shanghai",
                "kind": "ConfigMap",
                "namespace": "default",
                "name": "web-config",
            }
        ],
    }
    (old,) = drill_from_dict(older).undo
    assert (old.action, old.side, old.describe()) == (
        "delete",
        None,
        "ConfigMap default/web-config",
    )


def test_an_infinite_pause_stored_before_durations_were_bounded_reads_as_a_pause_without_end():
    from failoverd.store.codec import machine_from_dict, machine_to_dict

    stored = {**machine_to_dict(ServiceState(state=State.PAUSED)), "paused_until": float("inf")}
    st = machine_from_dict(json.loads(json.dumps(stored)))
    assert st.state == State.PAUSED and st.paused_until is None
