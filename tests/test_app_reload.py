"""What a reload rebuilds: the pure diff of two configs (app/reload.py `changes`)."""

from __future__ import annotations

from failoverd import config
from failoverd.app.reload import changes
from failoverd.store.records import DrillRecord, ServiceRecord
from tests.lab.fakes import GOOD_CONFIG, a_plan


def test_reload_rebuilds_what_changed_and_defers_a_service_with_a_plan_in_flight():
    old = config.parse(GOOD_CONFIG)
    svc = old.services["web"]
    new = old.model_copy(
        update={
            "services": {
                "web": svc.model_copy(update={"mode": "warm"}),
                "api": svc.model_copy(update={"mode": "cold"}),
            },
            "api": old.api.model_copy(update={"listen": "127.0.0.1:9999"}),
        }
    )
    c = changes(old, new, clusters_changed=False, records={"web": ServiceRecord(plan=a_plan("p"))})
    assert c.changed == {"web", "api"} and c.deferred == {"web"}
    assert c.restart_only and c.new.state == old.state
    assert changes(old, old, clusters_changed=True, records={}).changed == {"web"}
    drilling = ServiceRecord(drill=DrillRecord("d1", "web", "full", "", 1.0))
    assert changes(old, new, False, {"web": drilling}).deferred == {"web"}
