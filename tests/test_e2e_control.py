"""Operators in control, end to end: propose and approve, an RPO gate, timed pauses, the audit."""

from __future__ import annotations

import pytest

from tests import lab

pytestmark = pytest.mark.e2e


cli = lab.cli


def with_alice(daemon, cfg: dict) -> dict:
    """A second, named token: the audit must say it was alice."""
    alice = daemon.tmp_path / "alice.token"
    alice.write_text("alice-token-value\n")
    cfg["api"]["token_files"] = {"alice": str(alice)}
    return cfg


async def test_propose_mode_waits_for_approval_and_the_audit_names_who_approved(
    daemon, sides, http
):
    primary, _ = sides
    cfg = with_alice(daemon, daemon.config(interval="500ms", automation="propose"))
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    await d.wait_for("transition", to="pending_approval")
    proposal = (await d.status())["proposal"]
    assert proposal["standby_ready"] and proposal["outage_seconds"] >= 1.0
    assert proposal["last_drill"] is None  # no drill has run on this service yet
    assert daemon.bind.answer() == [lab.PRIMARY_IP], "nothing moves before the approval"
    code, out, err = await cli(
        "approve",
        "webapp",
        "--api",
        d.api,
        "--reason",
        "confirmed down",
        "--token-file",
        str(daemon.tmp_path / "alice.token"),
    )
    assert code == 0, err
    await d.wait_for("plan_done", result="success")
    assert daemon.bind.answer() == [lab.STANDBY_IP]
    code, out, _ = await cli("audit", "--api", d.api)
    approve = next(line for line in out.splitlines() if " approve " in line)
    assert " alice " in approve and "accepted" in approve and "confirmed down" in approve
    assert any("failoverd" in line and "failover_proposed" in line for line in out.splitlines())


async def test_a_rejected_proposal_keeps_traffic_on_the_primary(daemon, sides, http):
    primary, _ = sides
    d = await daemon.start(interval="500ms", automation="propose")
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    await d.wait_for("transition", to="pending_approval")
    code = await d.command("reject", reason="a partition, not an outage")
    assert code == 202, "\n".join(d.raw[-30:])
    await d.wait_for("transition", to="blocked")
    svc = await d.status()
    assert (svc["state"], svc["blocked"]) == ("blocked", "rejected")
    await primary.up()
    await d.wait_for("transition", to="primary_active")
    assert not d.matching("plan_start") and daemon.bind.answer() == [lab.PRIMARY_IP]


@pytest.mark.parametrize(("on_timeout", "moved"), [("failover", True), ("stay", False)])
async def test_an_unanswered_proposal_follows_on_timeout(daemon, sides, on_timeout, moved):
    primary, _ = sides
    d = await daemon.start(
        interval="500ms", automation="propose", approval_timeout="2s", on_timeout=on_timeout
    )
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    await d.wait_for("transition", to="pending_approval")
    if moved:
        await d.wait_for("plan_done", result="success")
        assert daemon.bind.answer() == [lab.STANDBY_IP]
    else:
        blocked = await d.wait_for("transition", to="blocked")
        assert "staying on the primary" in blocked["reason"]
        assert daemon.bind.answer() == [lab.PRIMARY_IP]


async def test_the_rpo_gate_holds_a_failover_until_replication_catches_up(daemon, sides, http):
    primary, _ = sides
    flag = daemon.tmp_path / "replica-caught-up"
    cfg = daemon.config(interval="500ms", rpo_gate={"max": "5s", "wait": "20s", "then": "block"})
    cfg["services"]["webapp"]["replication"] = {
        "db": {"every": "1h", "command": {"argv": ["sh", "-c", f"test -f {flag}"], "timeout": "2s"}}
    }
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    await d.wait_for("plan_step_start", step="rpo_gate")
    await d.wait_for("replication_failed", nth=2)  # the gate ran the job again: still behind
    assert daemon.bind.answer() == [lab.PRIMARY_IP], "no switch while replication is behind"
    flag.touch()  # the replica catches up
    done = await d.wait_for("plan_done", timeout=30)
    assert done["result"] == "success" and daemon.bind.answer() == [lab.STANDBY_IP]
    steps = {s["name"]: s for s in (await d.status())["last_failover"]["steps"]}
    assert "within 5s" in steps["rpo_gate"]["output"]
    assert done["rpo_seconds"] is not None and done["rpo_seconds"] < 5


async def test_a_timed_pause_survives_a_restart_and_resumes_on_time(daemon, sides, http):
    d = await daemon.start(interval="500ms")
    await d.wait_for("first_round")
    code, out, err = await cli(
        "pause",
        "webapp",
        "--for",
        "4s",
        "--reason",
        "upgrade",
        "--api",
        d.api,
        "--token-file",
        str(daemon.token[1]),
    )
    assert code == 0, err
    assert await d.stop() == 0
    d2 = await daemon.start()
    svc = await d2.status()
    assert svc["state"] == "paused" and svc["paused_until"] is not None
    code, out, _ = await cli("status", "--api", d2.api)
    assert "left)" in out
    resumed = await d2.wait_for("transition", to="primary_active", timeout=20)
    assert "timed pause is over" in resumed["reason"]
    code, out, _ = await cli("explain", "webapp", "--api", d2.api)
    assert code == 0 and "reason:" in out and "quorum" in out
