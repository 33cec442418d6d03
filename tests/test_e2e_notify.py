"""Notifications from the real daemon: a failover pages and resolves; a hanging sink costs nothing."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import datetime

import pytest

from tests import lab

pytestmark = pytest.mark.e2e

PD_KEY = "0123456789abcdef0123456789abcdef"


def ts(line: dict) -> float:
    return datetime.fromisoformat(line["timestamp"]).timestamp()


async def test_a_failover_is_told_to_every_sink_and_a_hanging_one_delays_nothing(
    daemon, sides, monkeypatch
):
    primary, _ = sides
    monkeypatch.setenv("FAILOVERD_TEST_PD_KEY", PD_KEY)
    async with lab.receivers(3) as (hook, pd, hanging):
        hanging.mode = "hang"
        cfg = daemon.config(interval="500ms")
        cfg["notify"] = [
            {"webhook": {"name": "ops", "url": hook.url}},
            {
                "pagerduty": {
                    "routing_key_env": "FAILOVERD_TEST_PD_KEY",
                    "url": f"http://{lab.LOOPBACK}:{pd.port}/v2/enqueue",
                }
            },
            {"webhook": {"name": "stuck", "url": hanging.url, "timeout": "30s"}},
        ]
        d = await daemon.start(cfg)
        await d.wait_for("side_ready", side="standby")
        await primary.down()
        done = await d.wait_for("plan_done")
        await hook.wait(2)
        await pd.wait(2)
        assert len(hanging.seen) >= 1 and not hanging.got, "the stuck sink still hangs"
    started = d.matching("plan_start")[0]
    plan_seconds = ts(done) - ts(started)
    print(f"decision -> verified switch with a hanging sink: {plan_seconds * 1000:.0f} ms")
    assert done["result"] == "success" and plan_seconds < 1.0
    events = [b["event"] for b in hook.got]
    assert events == ["failover_started", "failover_finished"]
    finished = hook.got[1]["details"]
    assert finished["rto_seconds"] > 0 and [s["name"] for s in finished["steps"]] == [
        "switch",
        "verify",
    ]
    assert finished["from"] == "primary" and finished["to"] == "standby"
    trigger, resolve = pd.got
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] and trigger["routing_key"] == PD_KEY
    assert PD_KEY not in "\n".join(d.raw), "the routing key never reaches the log"


def open_incidents(bodies: list[dict]) -> set[str]:
    """What PagerDuty would hold open: each trigger opens its dedup key, a resolve closes it."""
    opened: set[str] = set()
    for body in bodies:
        if body["event_action"] == "trigger":
            opened.add(body["dedup_key"])
        else:
            opened.discard(body["dedup_key"])
    return opened


async def settled(pd: lab.Receiver, want: set[str]) -> None:
    """Until the receiver's open incidents are exactly `want`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10), pd.changed:
            await pd.changed.wait_for(lambda: open_incidents(pd.got) == want)
    got = [(b["event_action"], b["dedup_key"]) for b in pd.got]
    assert open_incidents(pd.got) == want, f"PagerDuty got {got}"


def pagerduty(daemon, pd: lab.Receiver, **policy: object) -> dict:
    cfg = daemon.config(interval="500ms", automation="propose", **policy)
    url = f"http://{lab.LOOPBACK}:{pd.port}/v2/enqueue"
    cfg["notify"] = [{"pagerduty": {"routing_key_env": "FAILOVERD_TEST_PD_KEY", "url": url}}]
    return cfg


PROPOSAL = "failoverd/webapp/proposal"


async def test_a_rejected_then_an_approved_proposal_each_resolve_their_incident(
    daemon, sides, monkeypatch
):
    primary, _ = sides
    monkeypatch.setenv("FAILOVERD_TEST_PD_KEY", PD_KEY)
    async with lab.receivers(1) as (pd,):
        d = await daemon.start(pagerduty(daemon, pd))
        await d.wait_for("side_ready", side="standby")
        await primary.down()
        await settled(pd, {PROPOSAL})
        assert await d.command("reject", reason="a partition") == 202
        await settled(pd, {"failoverd/webapp/blocked/rejected"})
        await primary.up()
        await settled(pd, set())
        first = len(pd.got)
        await primary.down()
        await settled(pd, {PROPOSAL})
        assert pd.got[first]["event_action"] == "trigger", "the second proposal pages anew"
        assert await d.command("approve", reason="confirmed") == 202
        await d.wait_for("plan_done", result="success")
        await settled(pd, set())
    classes = [b["payload"]["class"] for b in pd.got if b["event_action"] == "trigger"]
    assert classes == ["failover_proposed", "blocked", "failover_proposed", "failover_started"]


@pytest.mark.parametrize("on_timeout", ["stay", "failover"])
async def test_an_expired_proposal_resolves_its_incident(daemon, sides, monkeypatch, on_timeout):
    primary, _ = sides
    monkeypatch.setenv("FAILOVERD_TEST_PD_KEY", PD_KEY)
    async with lab.receivers(1) as (pd,):
        cfg = pagerduty(daemon, pd, approval_timeout="2s", on_timeout=on_timeout)
        d = await daemon.start(cfg)
        await d.wait_for("side_ready", side="standby")
        await primary.down()
        await settled(pd, {PROPOSAL})
        if on_timeout == "stay":
            await settled(pd, {"failoverd/webapp/blocked/rejected"})
        else:
            await d.wait_for("plan_done", result="success")
            await settled(pd, set())


async def test_events_queued_while_the_sink_is_down_arrive_after_a_restart(daemon, sides):
    primary, _ = sides
    async with lab.receivers(1) as (hook,):
        hook.mode = "fail"
        cfg = daemon.config(interval="500ms")
        cfg["notify"] = [{"webhook": {"url": hook.url}}]
        d = await daemon.start(cfg)
        await d.wait_for("side_ready", side="standby")
        await primary.down()
        await d.wait_for("plan_done")
        await hook.wait_seen(1)
        assert await d.stop() == 0  # two events owed to a dead sink
        hook.mode = "ok"
        d2 = await daemon.start(cfg)
        await d2.wait_for("notify_outbox_reloaded")
        await hook.wait(2)
    assert [b["event"] for b in hook.got] == ["failover_started", "failover_finished"]
    assert len({b["id"] for b in hook.got}) == 2


async def test_notify_test_prints_each_sinks_answer(daemon, sides):
    async with lab.receivers(1) as (hook,):
        cfg = daemon.config(interval="500ms")
        cfg["notify"] = [
            {"webhook": {"name": "ops", "url": hook.url}},
            {
                "webhook": {
                    "name": "nowhere",
                    "url": f"http://{lab.LOOPBACK}:9/hook",
                    "timeout": "1s",
                }
            },
        ]
        d = await daemon.start(cfg)
        # the receivers live on this test's event loop: the CLI must not block it
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "failoverd",
            "notify-test",
            "--api",
            d.api,
            "--token-file",
            str(daemon.token[1]),
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, stdout
    lines = dict(line.split(None, 1) for line in stdout.decode().splitlines())
    assert lines["ops"].startswith("ok") and "202" in lines["ops"]
    assert lines["nowhere"].startswith("FAIL")
    assert hook.got[0]["event"] == "test"
