"""Two replicas in the arbiter cluster: one leader, a takeover that finishes a half-done failover.

Two real `failoverd run` processes share a Lease and the state ConfigMaps in kmock's emulator.
The emulator lacks what a real API server does with writes (PUT, resourceVersion, 409 on a
stale one); tests/lab/kube.py adds that in front of it and logs every Lease and ConfigMap
write with its epoch, so the tests can check that no two leaders ever overlapped. Each replica
reaches the API server through its own BlackHole relay. Timings are shortened (lease 3 s,
renew deadline 2 s, retry 500 ms) in client-go's ordering.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from failoverd.app.answers import StatusAnswer
from tests import lab
from tests.lab.ha import arbiter

pytestmark = pytest.mark.e2e


def warm(daemon, tmp_path: Path) -> dict[str, Any]:
    cfg = daemon.config(interval="500ms", failure_threshold=3, recovery_threshold=2)
    svc = cfg["services"]["webapp"]
    svc["mode"] = "warm"
    for side in ("primary", "standby"):
        svc["probes"][side].append(
            {"command": {"argv": ["true"], "role": "cluster", "timeout": "300ms"}}
        )
    fence, prepare = tmp_path / "fence.log", tmp_path / "prepare.log"
    svc["fence"] = {
        "command": {"argv": ["sh", "-c", f'echo "$POD_NAME" >> {fence}'], "timeout": "10s"}
    }
    svc["prepare"] = {
        "command": {
            "argv": ["sh", "-c", f'echo "$POD_NAME" >> {prepare}; sleep 3'],
            "timeout": "10s",
        }
    }
    return cfg


async def test_one_leader_and_a_follower_that_finishes_the_failover_the_leader_died_in(
    daemon, sides, tmp_path, http, token
):
    primary, _ = sides
    async with arbiter(tmp_path, warm(daemon, tmp_path), token[0]) as arb:
        a, b = (r.daemon for r in arb.replicas)
        await a.start(wait_for="leading")
        await b.start()
        assert (await a.status(None))["leader"] and not (await b.status(None))["leader"]
        assert (await a.metric("failoverd_leader"), await b.metric("failoverd_leader")) == (
            1.0,
            0.0,
        )
        await b.wait_for("first_round")  # the follower probes too, and reports its own view
        assert (await b.status(None))["lease"]["holder"] == "a"
        code = await b.command("failover")
        assert code == 409, "a follower refuses commands (it names the leader)"

        await primary.down()
        await a.wait_for("plan_step_start", step="prepare", timeout=20)
        assert daemon.bind.answer() == [lab.PRIMARY_IP]
        killed = time.monotonic()
        await a.kill()

        acquired = await b.wait_for("leader_acquired", timeout=20)
        assert acquired["epoch"] == 2
        assert acquired["_t"] - killed <= 3.0 + 0.5 + 0.5, "within lease_duration + one retry"
        resumed = await b.wait_for("plan_resume")
        assert resumed["steps"]["fence"] == "done" and resumed["steps"]["prepare"] == "running"
        done = await b.wait_for("plan_done", kind="failover", timeout=30)
        assert done["result"] == "success"
        assert daemon.bind.answer() == [lab.STANDBY_IP]
        assert (tmp_path / "fence.log").read_text().split() == ["a"], "fence ran once"
        assert (tmp_path / "prepare.log").read_text().split() == ["a", "b"], "prepare twice"
        assert not a.matching("plan_step_start", step="switch"), "only b ever switched"
        assert len(b.matching("plan_step_start", step="switch")) == 1, "the switch landed once"
        assert arb.epochs() and not arb.overlaps()
        svc = (await b.status(None))["services"]["webapp"]
        assert (svc["state"], svc["active"]) == ("standby_active", "standby")


async def test_a_leader_cut_from_the_api_server_stops_acting_and_the_follower_fails_over(
    daemon, sides, tmp_path, http, token
):
    primary, _ = sides
    cfg = daemon.config(interval="500ms", failure_threshold=3, recovery_threshold=2)
    async with (
        lab.receivers(1) as (hook,),
        arbiter(
            tmp_path,
            {
                **cfg,
                "notify": [
                    {
                        "webhook": {
                            "url": hook.url,
                            "events": ["leader_acquired", "leader_lost", "failover_finished"],
                        }
                    }
                ],
            },
            token[0],
        ) as arb,
    ):
        ra = arb.replicas[0]
        a, b = await arb.lead_and_follow()
        ra.hole.hole = True  # every request a makes to the API server goes unanswered
        cut = time.monotonic()
        await primary.down()
        stopped = await a.wait_for("stop_acting", timeout=10)
        assert stopped["_t"] - cut <= 2.0 + 0.5, "a stops within renew_deadline of its last renewal"
        assert await a.wait(timeout=15) == 1, (
            "and exits non-zero (a backstop: restarted as follower)"
        )
        acquired = await b.wait_for("leader_acquired", timeout=15)
        assert acquired["_t"] > stopped["_t"], "no two actors overlap"
        await b.wait_for("plan_done", kind="failover", timeout=20)
        assert daemon.bind.answer() == [lab.STANDBY_IP]
        assert not a.matching("plan_step_start", step="switch")
        assert arb.epochs() and not arb.overlaps()
        # a's own leader_acquired, then b's leader_lost, leader_acquired and the failover; at
        # least once: b may re-send what a sent but could not mark sent (same id: receivers dedup)
        async with asyncio.timeout(15), hook.changed:
            await hook.changed.wait_for(
                lambda: any(n["event"] == "failover_finished" for n in hook.got)
            )
        unique = list({n["id"]: n for n in hook.got}.values())
        told = [(n["event"], n["details"].get("identity")) for n in unique]
        assert told == [
            ("leader_acquired", "a"),
            ("leader_lost", "b"),
            ("leader_acquired", "b"),
            ("failover_finished", None),
        ], told
        assert unique[1]["details"]["previous"] == "a" and unique[2]["details"]["epoch"] == 2


async def test_a_stopped_leader_releases_the_lease_and_the_follower_leads_at_once(
    daemon, tmp_path, http, token
):
    cfg = daemon.config(interval="500ms")
    async with arbiter(tmp_path, cfg, token[0]) as arb:
        a, b = await arb.lead_and_follow()
        # the follower shows the leader's state (re-read every 5 retry periods), its own probes
        await a.wait_for("side_ready", side="standby")
        assert await a.command("failover") == 202
        await a.wait_for("plan_done", kind="failover")
        await b.wait_for("leader_state", service="webapp", active="standby")
        st = await b.status(None)
        svc = st["services"]["webapp"]
        assert (svc["state"], svc["active"]) == ("standby_active", "standby")
        assert svc["last_failover"]["trigger"] == "manual" and st["lease"]["state_read_at"]
        # a reload on the follower builds follower runners again: observe only
        text = b.config_path.read_text().replace("recovery_threshold: 2", "recovery_threshold: 3")
        assert text != b.config_path.read_text()
        b.config_path.write_text(text)
        await b.signal(signal.SIGHUP)
        reloaded = await b.wait_for("reloaded")
        assert reloaded["changed"] == ["webapp"]
        st = await b.status(None)
        assert not st["leader"] and st["services"]["webapp"]["observe_only"]
        assert not StatusAnswer.model_validate(st).leader  # a follower answers the same contract
        asked = time.monotonic()
        await a.signal(signal.SIGTERM)
        leading = await b.wait_for("leading", timeout=10)
        assert leading["_t"] - asked <= 2.0, "the follower leads within 2 s of SIGTERM"
        assert await a.wait() == 0
        assert a.matching("leader_released")
        st = await b.status(None)
        assert st["leader"] and not st["services"]["webapp"]["observe_only"]
        assert st["lease"] == {"identity": "b", "holder": "b", "epoch": 2}
        assert arb.cluster.lease()["spec"]["holderIdentity"] == "b"


async def test_a_takeover_retries_a_claim_the_api_server_failed_and_gives_the_lease_back_if_it_cannot(
    daemon, tmp_path, http, token
):
    """The new leader's claim of the state meets 500s (etcd timing out): it tries again while
    the lease is its own, and leads. When the claim cannot land within a lease duration, it
    releases the lease (another replica may take it at once) and exits 1, holding nothing."""
    cfg = daemon.config(interval="500ms")
    async with arbiter(tmp_path, cfg, token[0]) as arb:
        a, b = await arb.lead_and_follow()
        arb.cluster.failing_puts["configmaps", "b"] = 3
        await a.signal(signal.SIGTERM)
        assert await a.wait() == 0
        await b.wait_for("leading", timeout=10)
        retries = b.matching("claim_retry")
        assert len(retries) == 3 and "etcdserver: request timed out" in retries[0]["error"]
        assert arb.cluster.failing_puts["configmaps", "b"] == 0
        st = await b.status(None)
        assert st["leader"] and st["lease"]["epoch"] == 2
        # b stops; a comes back and meets an API server that fails every state write
        await b.signal(signal.SIGTERM)
        assert await b.wait() == 0
        arb.cluster.failing_puts["configmaps", "a"] = 10**6
        a2 = arb.replicas[0].daemon = lab.Daemon(a.config_path, a.api_port, a.token, env=a.env)
        await a2.start()
        failed = await a2.wait_for("lead_failed", timeout=15)
        assert "etcdserver: request timed out" in failed["error"]
        assert await a2.wait() == 1
        assert a2.matching("leader_released"), "the lease is given back, not left to expire"
        assert arb.cluster.lease()["spec"]["holderIdentity"] == ""


async def test_a_replica_that_rbac_may_not_read_a_state_configmap_stops_at_start_naming_it(
    daemon, tmp_path, token
):
    """A Role that misses a service's ConfigMap is found at start-up (exit 2, the ConfigMap
    and the verb named), not when this replica first has to take over."""
    async with arbiter(tmp_path, daemon.config(), token[0], names=("a",)) as arb:
        arb.cluster.forbidden.add(("get", "configmaps", "failoverd-state-svc-webapp"))
        a = arb.replicas[0].daemon
        code, _, err = await lab.cli("run", "-c", str(a.config_path), env=a.env, timeout=30)
        assert code == 2, err
        assert "RBAC refuses get on ConfigMap failoverd/failoverd-state-svc-webapp" in err, err
