"""DR drills against the real lab: readiness touches nothing live, full moves and comes back."""

from __future__ import annotations

import json

import aiohttp
import dns.message
import dns.query
import pytest

from tests import lab
from tests.lab import kube as lab_kube

pytestmark = pytest.mark.e2e


cli = lab.cli


def drill_txt(bind: lab.Bind) -> list[str]:
    q = dns.message.make_query(f"_failoverd-drill.{lab.RECORD}", "TXT")
    answer = dns.query.tcp(q, "127.0.0.1", port=bind.port, timeout=2)
    return [rd.to_text() for rrset in answer.answer for rd in rrset]


async def drill(d, daemon, tmp_path, *extra: str) -> tuple[int, dict, str]:
    code, out, err = await cli(
        "drill",
        "webapp",
        "--api",
        d.api,
        "--token-file",
        str(daemon.token[1]),
        "--report-dir",
        str(tmp_path / "reports"),
        *extra,
    )
    reports = sorted((tmp_path / "reports").glob("drill-*.json"))
    return code, json.loads(reports[-1].read_text()) if reports else {}, out + err


async def test_a_readiness_drill_passes_and_leaves_everything_live_as_it_was(
    daemon, sides, tmp_path, http
):
    cfg = daemon.config(interval="500ms")
    cfg["services"]["webapp"]["objectives"] = {"rto": "10s"}
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby")
    before = daemon.bind.answer()
    code, report, out = await drill(d, daemon, tmp_path)
    assert code == 0, out
    assert report["outcome"] == "passed" and report["schema"] == "failoverd-drill-report/1"
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["standby ready"]["ok"] and checks["switch writable"]["ok"]
    assert "written, read back and deleted" in checks["switch writable"]["detail"]
    assert 1.5 <= report["projected_rto_seconds"] < 10
    assert daemon.bind.answer() == before and drill_txt(daemon.bind) == [], "nothing left behind"
    assert not d.matching("plan_start")
    for ext in ("md", "html"):
        text = (tmp_path / "reports" / f"drill-{report['id']}.{ext}").read_text()
        assert "PASSED: readiness drill of webapp" in text
    assert "<svg" in (tmp_path / "reports" / f"drill-{report['id']}.html").read_text()
    passed = {"service": "webapp", "kind": "readiness", "outcome": "passed"}
    assert await d.metric("failoverd_drills_total", **passed) == 1

    # a restart keeps the newest pass visible: FailoverdDrillOverdue reads it
    await d.stop()
    d2 = await daemon.start(cfg)
    await d2.wait_for("first_round")
    last = await d2.metric(
        "failoverd_drill_last_success_timestamp_seconds", service="webapp", kind="readiness"
    )
    assert last == pytest.approx(report["finished"])


async def test_a_readiness_drill_with_stale_replication_fails_on_rpo(daemon, sides, tmp_path):
    cfg = daemon.config(interval="500ms")
    cfg["services"]["webapp"]["objectives"] = {"rpo": "30s"}
    cfg["services"]["webapp"]["replication"] = {
        "db": {"every": "1h", "command": {"argv": ["false"], "timeout": "2s"}}
    }
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby")
    code, report, out = await drill(d, daemon, tmp_path)
    assert code == 1 and report["outcome"] == "failed", out
    rpo = next(c for c in report["checks"] if c["name"] == "replication fresh")
    assert not rpo["ok"] and "never succeeded" in rpo["detail"]


async def test_a_full_drill_moves_traffic_and_brings_it_back_with_two_rtos(
    daemon, sides, tmp_path, http
):
    d = await daemon.start(interval="500ms")
    await d.wait_for("side_ready", side="standby")
    code, report, out = await drill(d, daemon, tmp_path, "--kind", "full", "--soak", "2s")
    assert code == 0 and report["outcome"] == "passed", out
    assert report["rto_seconds"] > 0 and report["failback_rto_seconds"] > 0
    names = [c["name"].split(" (")[0] for c in report["checks"]]
    assert names == ["failover", "traffic through the standby", "soak on the standby", "failback"]
    assert daemon.bind.answer() == [lab.PRIMARY_IP]
    triggers = [ln["trigger"] for ln in d.matching("plan_start")]
    assert triggers == ["drill", "drill"]


async def test_a_real_outage_during_the_soak_interrupts_the_drill_and_stays_on_the_standby(
    daemon, sides, tmp_path, http
):
    primary, _ = sides
    d = await daemon.start(interval="500ms")
    await d.wait_for("side_ready", side="standby")
    async with http.post(
        f"{d.api}/v1/services/webapp/drill",
        json={"kind": "full", "soak": "30s"},
        headers={"Authorization": f"Bearer {d.token}"},
    ) as r:
        assert r.status == 202
        drill_id = (await r.json())["drill"]
    await d.wait_for("plan_done", kind="failover")
    await primary.down()  # the real thing, mid-soak
    done = await d.wait_for("drill_done", timeout=20)
    assert done["outcome"] == "interrupted" and "primary failed during the soak" in done["error"]
    async with http.get(f"{d.api}/v1/drills/{drill_id}") as r:
        assert (await r.json())["outcome"] == "interrupted"
    async with http.get(f"{d.api}/v1/status") as r:
        assert (await r.json())["services"]["webapp"]["state"] == "standby_active"
    assert daemon.bind.answer() == [lab.STANDBY_IP]


async def test_a_drill_that_cannot_start_is_blocked_and_touches_nothing(daemon, sides, tmp_path):
    d = await daemon.start(interval="1s", recovery_threshold=10)
    await d.wait_for("first_round")  # the standby is not ready for ten seconds
    code, report, _ = await drill(d, daemon, tmp_path, "--kind", "full")
    assert code == 1 and report["outcome"] == "blocked" and "not ready" in report["error"]
    assert not d.matching("plan_start") and daemon.bind.answer() == [lab.PRIMARY_IP]


async def test_a_warm_readiness_drill_scales_the_standby_up_and_back_and_survives_a_kill(
    daemon, sides, tmp_path
):
    async with lab_kube.warm_regions(tmp_path) as (_, sh_, kubeconfig):
        cfg = lab_kube.make_warm(daemon.config(interval="500ms"), kubeconfig)
        d = await daemon.start(cfg)
        await d.wait_for("side_ready", side="standby")
        code, report, out = await drill(d, daemon, tmp_path)
        assert code == 0, out
        checks = {c["name"]: c for c in report["checks"]}
        assert checks["prepare the standby (scale up, ready)"]["ok"]
        assert checks["undo prepare"]["ok"] and sh_.replicas("webapp")[0] == 0, "scaled back to 0"

        # killed while the standby is scaled up: the next start scales it back
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{d.api}/v1/services/webapp/drill",
                json={"kind": "readiness"},
                headers={"Authorization": f"Bearer {d.token}"},
            ) as r,
        ):
            assert r.status == 202
        await d.wait_for("drill_check", check="prepare the standby (scale up, ready)", nth=2)
        assert sh_.replicas("webapp")[0] == 3
        await d.kill()
        d2 = await daemon.start(cfg)
        cut = await d2.wait_for("drill_cut_short")
        assert cut["undone"] and sh_.replicas("webapp")[0] == 0


async def test_a_real_failover_during_a_warm_readiness_drill_interrupts_it_and_keeps_the_standby_up(
    daemon, sides, tmp_path
):
    """The drill scales the standby up and journals "back to 0"; the primary dies meanwhile.

    The real failover must win: the drill gives way before the plan's first step, and its undo
    never scales down the standby that now serves.
    """
    primary, _ = sides
    async with lab_kube.warm_regions(tmp_path) as (_, sh_, kubeconfig):
        cfg = lab_kube.make_warm(daemon.config(interval="500ms", failure_threshold=2), kubeconfig)
        d = await daemon.start(cfg)
        await d.wait_for("side_ready", side="standby")
        sh_.pods_held = True  # the drill's scale-up waits for pods that take their time
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{d.api}/v1/services/webapp/drill",
                json={"kind": "readiness"},
                headers={"Authorization": f"Bearer {d.token}"},
            ) as r,
        ):
            assert r.status == 202
            drill_id = (await r.json())["drill"]
        await d.wait_for("drill_check", check="switch writable")
        await primary.down()  # the real outage, mid-drill
        await d.wait_for("plan_start", kind="failover", timeout=20)
        sh_.pods_held = False
        await d.wait_for("plan_done", kind="failover", timeout=30)
        done = await d.wait_for("drill_done", drill=drill_id, timeout=30)
        assert done["outcome"] == "interrupted", done
        assert daemon.bind.answer() == [lab.STANDBY_IP], "traffic is on the standby"
        assert sh_.replicas("webapp")[0] == 3, "the serving standby was not scaled back down"
        async with aiohttp.ClientSession() as http, http.get(f"{d.api}/v1/drills/{drill_id}") as r:
            report = await r.json()
        undo = next(c for c in report["checks"] if c["name"] == "undo prepare")
        assert "left as it is on the failover plan's target" in undo["detail"], undo
        async with aiohttp.ClientSession() as http, http.get(f"{d.api}/v1/status") as r:
            assert (await r.json())["services"]["webapp"]["state"] == "standby_active"
