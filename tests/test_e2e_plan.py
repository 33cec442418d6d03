"""Warm mode end to end: the journaled plan across crashes, Kubernetes steps, fencing, failback.

The clusters are kmock's KubernetesEmulator on loopback; it runs no controllers, so
lab_kube.ReplicaController plays the Deployment controller (status.readyReplicas follows
spec.replicas after a delay). Everything else is as against a real cluster.
"""

from __future__ import annotations

import pytest

from tests import lab
from tests.lab import kube as lab_kube

pytestmark = pytest.mark.e2e


def warm(daemon, **policy) -> dict:
    cfg = daemon.config(interval="500ms", failure_threshold=3, recovery_threshold=2, **policy)
    svc = cfg["services"]["webapp"]
    svc["mode"] = "warm"
    for side in ("primary", "standby"):
        svc["probes"][side].append(
            {"command": {"argv": ["true"], "role": "cluster", "timeout": "300ms"}}
        )
    return cfg


def sh(script: str) -> dict:
    return {"argv": ["sh", "-c", script], "timeout": "30s"}


async def test_a_daemon_killed_during_prepare_finishes_the_failover_after_restart(
    daemon, sides, tmp_path, http
):
    primary, _ = sides
    fence_log, prepare_log = tmp_path / "fence.log", tmp_path / "prepare.log"
    cfg = warm(daemon)
    cfg["services"]["webapp"]["fence"] = {"command": sh(f'echo "$FAILOVERD_SIDE" >> {fence_log}')}
    cfg["services"]["webapp"]["prepare"] = {
        "command": sh(
            f"echo start >> {prepare_log}; sleep 3; echo done >> {prepare_log}; echo promoted"
        )
    }
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    await d.wait_for("plan_step_start", step="prepare")
    assert daemon.bind.answer() == [lab.PRIMARY_IP], "traffic has not moved during prepare"
    await d.kill()
    assert daemon.bind.answer() == [lab.PRIMARY_IP]

    d2 = await daemon.start(cfg)
    resumed = await d2.wait_for("plan_resume")
    assert resumed["steps"] == {
        "fence": "done",
        "prepare": "running",
        "switch": "pending",
        "verify": "pending",
    }
    done = await d2.wait_for("plan_done", kind="failover")
    assert done["result"] == "success"
    assert daemon.bind.answer() == [lab.STANDBY_IP]
    assert fence_log.read_text().splitlines() == ["primary"], "fence ran exactly once"
    svc = await d2.status()
    steps = {s["name"]: s for s in svc["last_failover"]["steps"]}
    assert list(steps) == ["fence", "prepare", "switch", "verify"]
    assert all(s["status"] == "done" and s["duration_seconds"] >= 0 for s in steps.values())
    prepare = steps["prepare"]
    assert prepare["duration_seconds"] >= 3.0 and prepare["output"] == "promoted\n"
    assert steps["switch"]["started"] >= prepare["started"] + prepare["duration_seconds"], (
        "switch after prepare"
    )
    assert (svc["state"], svc["active"]) == ("standby_active", "standby")


async def test_a_prepare_that_always_fails_blocks_after_bounded_retries(
    daemon, sides, tmp_path, http
):
    primary, standby = sides
    runs = tmp_path / "prepare.log"
    cfg = warm(daemon, step_attempts=3)
    cfg["services"]["webapp"]["prepare"] = {
        "command": sh(f"echo run >> {runs}; echo 'promote: replica not caught up' >&2; exit 1")
    }
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    done = await d.wait_for("plan_done", kind="failover")
    assert done["result"] == "failed"
    svc = await d.status()
    assert (svc["state"], svc["blocked"], svc["active"]) == ("blocked", "plan_failed", "primary")
    prepare = svc["last_failover"]["steps"][0]
    assert (prepare["name"], prepare["status"], prepare["attempts"]) == ("prepare", "failed", 3)
    assert prepare["error"] == "sh exited 1: promote: replica not caught up"
    assert daemon.bind.answer() == [lab.PRIMARY_IP], "traffic untouched"
    await standby.wait_requests(standby.requests + 6)  # six more rounds after blocking
    assert runs.read_text().splitlines() == ["run"] * 3, "no further runs after blocking"
    assert d.matching("notify", notify_event="failover_failed")


async def test_warm_mode_scales_the_standby_up_fences_the_primary_and_failback_reverses_it(
    daemon, sides, tmp_path, http, token
):
    primary, _ = sides
    async with lab_kube.warm_regions(tmp_path) as (bj, sh_, kubeconfig):

        def scale(cluster: str, n: int) -> dict:
            return {
                "scale": [
                    {
                        "cluster": cluster,
                        "namespace": "default",
                        "deployment": "webapp",
                        "replicas": n,
                    }
                ]
            }

        cfg = warm(daemon)
        svc = cfg["services"]["webapp"]
        cfg["clusters"] = {
            c: {"kubeconfig": str(kubeconfig), "context": c} for c in ("beijing", "shanghai")
        }
        svc["probes"]["standby"] = [
            {"http": {"url": sides[1].url, "timeout": "300ms"}},
            {"kubernetes": {"cluster": "shanghai", "timeout": "300ms"}},  # the API server's /readyz
        ]
        svc["fence"], svc["prepare"] = scale("beijing", 0), scale("shanghai", 3)
        svc["failback"] = {"fence": scale("shanghai", 0), "prepare": scale("beijing", 3)}
        d = await daemon.start(cfg)
        await d.wait_for("side_ready", side="standby")
        await primary.down()
        done = await d.wait_for("plan_done", kind="failover", timeout=20)
        assert done["result"] == "success"
        assert sh_.replicas("webapp") == (3, 3), "the standby was scaled up and waited for"
        assert bj.replicas("webapp") == (0, 0), "the primary was fenced"
        assert daemon.bind.answer() == [lab.STANDBY_IP]
        steps = (await d.status())["last_failover"]["steps"]
        assert [s["name"] for s in steps] == ["fence", "prepare", "switch", "verify"]
        assert steps[1]["duration_seconds"] >= 0.2, "prepare waited for the replicas to be ready"

        await primary.up()
        await d.wait_for("side_ready", side="primary", nth=2)
        assert await d.command("failback") == 202
        assert (await d.wait_for("plan_done", kind="failback", timeout=20))["result"] == "success"
        assert (bj.replicas("webapp"), sh_.replicas("webapp")) == ((3, 3), (0, 0))
        assert daemon.bind.answer() == [lab.PRIMARY_IP]
        await d.stop()
