"""The state file: atomic, versioned, locked; a bad file is an error, never replaced."""

from __future__ import annotations

import json
import os

import pytest

from failoverd.machine import Blocked, ServiceState, State
from failoverd.store import SCHEMA_VERSION, ServiceRecord, Store, StoreError


def test_a_saved_state_loads_back_the_same(tmp_path):
    store = Store(tmp_path / "state.json")
    st = ServiceState(
        state=State.BLOCKED, active="standby", blocked=Blocked.PLAN_FAILED, last_move_at=12.5
    )
    rec = ServiceRecord(machine=st, plan={"id": "p1", "steps": []}, last_failover={"id": "p0"})
    rec.add_event({"time": 1.0, "to": "blocked"})
    store.save({"web": rec})
    (back,) = store.load().values()
    assert (back.machine.state, back.machine.active, back.machine.blocked) == (
        State.BLOCKED,
        "standby",
        Blocked.PLAN_FAILED,
    )
    assert back.machine.last_move_at == 12.5
    assert (back.plan, back.last_failover, back.history) == (
        rec.plan,
        rec.last_failover,
        rec.history,
    )


def test_no_file_means_no_records_and_no_temp_files_are_left(tmp_path):
    store = Store(tmp_path / "state.json")
    assert store.load() == {}
    store.save({"web": ServiceRecord()})
    store.save({"web": ServiceRecord()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert oct((tmp_path / "state.json").stat().st_mode & 0o777) == "0o600"


def test_a_corrupt_file_is_a_clear_error_and_is_left_in_place(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"schema": 1, "services": {"web": ')
    with pytest.raises(StoreError, match="corrupt"):
        Store(path).load()
    assert path.read_text() == '{"schema": 1, "services": {"web": '


def test_a_file_from_a_newer_failoverd_is_refused(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"schema": SCHEMA_VERSION + 1, "services": {}}))
    with pytest.raises(StoreError, match="newer than this failoverd"):
        Store(path).load()


def test_a_bad_state_name_in_the_file_is_corrupt_not_a_crash(tmp_path):
    path = tmp_path / "state.json"
    machine = {"state": "exploded", "active": "primary"}
    path.write_text(json.dumps({"schema": 1, "services": {"web": {"machine": machine}}}))
    with pytest.raises(StoreError, match="corrupt"):
        Store(path).load()


def test_a_second_store_on_the_same_file_cannot_lock_it(tmp_path):
    first, second = Store(tmp_path / "state.json"), Store(tmp_path / "state.json")
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
        rec.add_event({"n": i})
    assert len(rec.history) == 200 and rec.history[0] == {"n": 249}
