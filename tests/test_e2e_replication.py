"""Replication end to end: a command job every second, its metrics, and the RPO of a failover."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e


async def test_rpo_is_the_age_of_the_last_replication_success(daemon, sides, tmp_path, http):
    primary, _ = sides
    broken = tmp_path / "replica-broken"
    cfg = daemon.config(interval="500ms", failure_threshold=3, recovery_threshold=2)
    cfg["log"]["level"] = "debug"
    svc = cfg["services"]["webapp"]
    svc["objectives"] = {"rpo": "2s"}
    svc["replication"] = {
        "db": {
            "every": "1s",
            "command": {"argv": ["sh", "-c", f"test ! -e {broken}"], "timeout": "5s"},
        }
    }
    d = await daemon.start(cfg)

    await d.wait_for("replication_done", nth=2, job="db")
    last_success = await d.metric("failoverd_replication_last_success_timestamp_seconds", job="db")
    assert abs(time.time() - last_success) < 1.5

    broken.touch()
    first = await d.wait_for("replication_failed", job="db")
    assert await d.metric("failoverd_replication_failures_total", job="db") >= 1
    await d.wait_for("rpo_objective_exceeded", timeout=10)
    await d.wait_for("replication_failed", nth=4, job="db")
    assert await d.metric("failoverd_replication_failures_total", job="db") >= 4, "failures grow"
    last_success = await d.metric("failoverd_replication_last_success_timestamp_seconds", job="db")
    async with http.get(f"{d.api}/v1/status") as r:
        repl = (await r.json())["services"]["webapp"]["replication"]
    assert repl["jobs"]["db"]["last_error"].startswith("sh exited 1")
    assert repl["warning"] and "exceeds the objective 2s" in repl["warning"]
    assert first["_t"] <= d.matching("rpo_objective_exceeded")[0]["_t"], "visible while it grows"

    await primary.down()
    done = await d.wait_for("plan_done", kind="failover")
    assert done["result"] == "success"
    async with http.get(f"{d.api}/v1/status") as r:
        lf = (await r.json())["services"]["webapp"]["last_failover"]
    switch = lf["steps"][0]
    assert switch["name"] == "switch"
    assert lf["rpo_seconds"] == pytest.approx(switch["started"] - last_success, abs=1.0)
    assert lf["rpo_seconds"] >= 3.0 and lf["rpo_jobs"]["db"] == lf["rpo_seconds"]
    assert await d.metric("failoverd_last_failover_rpo_seconds") == pytest.approx(lf["rpo_seconds"])
    # no copying from the old primary once traffic is on the standby
    await d.wait_for("replication_paused", job="db")
