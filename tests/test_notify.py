"""Notifications against real HTTP receivers on 127.0.0.1: at least once, in order, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from failoverd.kit.metrics import Metrics
from failoverd.notify import Notice, Notifier, dedup_key, summary
from failoverd.notify.sinks import PagerDuty, Slack, Webhook
from failoverd.store import FileStore
from tests import lab
from tests.lab import LOOPBACK


@pytest.fixture
async def receiver() -> AsyncIterator[lab.Receiver]:
    async with lab.receivers(1) as (rec,):
        yield rec


def notifier(sinks, tmp_path, **kw) -> Notifier:
    store = FileStore(tmp_path / "state.json")
    n = Notifier(sinks, store, Metrics(), structlog.get_logger(), **kw)
    n.RETRY_MIN, n.RETRY_MAX = 0.05, 0.2  # fast backoff for the test; Retry-After still rules
    return n


def webhook(rec: lab.Receiver, name: str = "webhook", events=None) -> Webhook:
    return Webhook(name, 1.0, events, rec.url)


async def delivered(n: Notifier, sink: str) -> None:
    """Wait until the notifier has booked everything `sink` answered (its answer is in)."""
    async with asyncio.timeout(10):
        await n.wait_until(lambda: not any(sink in p.sinks for p in n.pending))


def count(n: Notifier, sink: str, result: str) -> float:
    return n.metrics.notifications.labels(sink, result)._value.get()


async def test_events_arrive_once_each_in_order_after_the_receiver_recovers(receiver, tmp_path):
    receiver.mode = "fail"
    n = notifier([webhook(receiver)], tmp_path)
    await n.start()
    try:
        ids = [n.emit("failover_started", "web", f"event {i}", {"plan": "p1"}).id for i in range(3)]
        await receiver.wait_seen(3)  # three failed attempts at the first event
        receiver.mode = "ok"
        await receiver.wait(3)
        await delivered(n, "webhook")
        assert [b["id"] for b in receiver.got] == ids
        body = receiver.got[0]
        assert set(body) == {"id", "event", "service", "time", "severity", "message", "details"}
        assert body["time"].endswith("Z") and body["severity"] == "warning"
        assert count(n, "webhook", "sent") == 3 and count(n, "webhook", "retry") >= 2
        assert n.pending == []
    finally:
        await n.stop()


async def test_retry_after_on_429_is_honoured(receiver, tmp_path):
    receiver.mode, receiver.retry_after = "throttle", "1"
    n = notifier([webhook(receiver)], tmp_path)
    await n.start()
    try:
        n.emit("blocked", "web", "standby not ready", {"blocked": "standby_not_ready"})
        await receiver.wait_seen(1)
        receiver.mode = "ok"
        await receiver.wait(1)
        gap = receiver.seen[1] - receiver.seen[0]
        assert gap >= 0.95, f"retried {gap:.2f}s after a 429 with Retry-After: 1"
    finally:
        await n.stop()


async def test_a_refusing_receiver_drops_the_event_without_retrying(receiver, tmp_path):
    receiver.mode = "refuse"
    n = notifier([webhook(receiver)], tmp_path)
    await n.start()
    try:
        n.emit("failover_finished", "web", "done", {"plan": "p1"})
        async with asyncio.timeout(10):
            await n.wait_until(lambda: not n.pending)
        assert len(receiver.seen) == 1 and count(n, "webhook", "dropped") == 1
    finally:
        await n.stop()


async def test_a_restart_while_the_sink_is_down_loses_nothing(receiver, tmp_path):
    receiver.mode = "fail"
    first = notifier([webhook(receiver)], tmp_path)
    await first.start()
    ids = [first.emit("failover_finished", "web", f"n{i}", {"plan": f"p{i}"}).id for i in range(3)]
    await receiver.wait_seen(1)
    await first.stop()  # the daemon stops (or dies) with three events owed
    assert (tmp_path / "state.json.outbox").exists()
    receiver.mode = "ok"
    second = notifier([webhook(receiver)], tmp_path)
    await second.start()
    try:
        await receiver.wait(3)
        assert sorted(b["id"] for b in receiver.got) == sorted(ids)
        await asyncio.sleep(0.3)  # nothing else is on its way
        assert len(receiver.got) == 3
    finally:
        await second.stop()


async def test_a_hanging_sink_delays_neither_the_emitter_nor_another_sink(receiver, tmp_path):
    async with lab.receivers(1) as (hanging,):
        hanging.mode = "hang"
        await hanging_sink_case(receiver, hanging, tmp_path)


async def hanging_sink_case(receiver, hanging, tmp_path) -> None:
    n = notifier([Webhook("slow", 30.0, None, hanging.url), webhook(receiver, "fast")], tmp_path)
    await n.start()
    try:
        n.emit("failover_started", "web", "go", {"plan": "p1"})
        n.emit("failover_finished", "web", "done", {"plan": "p1"})
        await receiver.wait(2)
        await delivered(n, "fast")
        assert len(hanging.seen) == 1 and [p.sinks for p in n.pending] == [["slow"], ["slow"]]
    finally:
        await n.stop()
        hanging.release.set()


async def test_the_outbox_is_bounded_and_drops_the_oldest_info_events_first(tmp_path):
    n = notifier([Webhook("down", 1.0, None, f"http://{LOOPBACK}:9/hook")], tmp_path, max_events=3)
    # not started: nothing is sent, the outbox only fills
    n._wake["down"] = asyncio.Event()
    kept = n.emit("failover_failed", "web", "critical", {}).id
    for i in range(3):
        n.emit("rpo_objective_met", "web", f"info {i}", {})
    assert len(n.pending) == 3 and kept in [p.notice.id for p in n.pending]
    assert [p.notice.message for p in n.pending][1:] == ["info 1", "info 2"]
    assert count(n, "down", "dropped") == 1


async def test_an_events_filter_keeps_a_sink_to_what_it_asked_for(receiver, tmp_path):
    n = notifier([webhook(receiver, events=["failover_failed"])], tmp_path)
    await n.start()
    try:
        n.emit("failover_started", "web", "go", {"plan": "p1"})
        n.emit("failover_failed", "web", "failed", {"plan": "p1"})
        await receiver.wait(1)
        await asyncio.sleep(0.2)
        assert [b["event"] for b in receiver.got] == ["failover_failed"]
    finally:
        await n.stop()


# --------------------------------------------------------------------------- sink formats

PD_SEVERITIES = {"critical", "error", "warning", "info"}


def valid_pagerduty_event(body: dict[str, Any]) -> None:
    """The Events API v2 field rules (developer.pagerduty.com, 'Send an Alert Event')."""
    assert set(body) <= {
        "routing_key",
        "event_action",
        "dedup_key",
        "payload",
        "images",
        "links",
        "client",
        "client_url",
    }
    assert body["event_action"] in {"trigger", "acknowledge", "resolve"}
    assert isinstance(body["routing_key"], str) and len(body["routing_key"]) == 32
    assert 0 < len(body["dedup_key"]) <= 255
    if body["event_action"] == "trigger":
        p = body["payload"]
        assert 0 < len(p["summary"]) <= 1024 and p["source"] and p["severity"] in PD_SEVERITIES
        assert p["timestamp"].endswith("Z") and isinstance(p.get("custom_details", {}), dict)


def notice(
    event: str, details: dict[str, Any], service: str = "webapp", message: str = "m"
) -> Notice:
    from failoverd.notify import SEVERITY

    return Notice("abc123", event, service, 1_700_000_000.25, SEVERITY[event], message, details)


async def test_pagerduty_pages_on_a_failed_failover_and_resolves_on_the_same_key(receiver):
    pd = PagerDuty("pd", 1.0, None, f"http://{LOOPBACK}:{receiver.port}/v2/enqueue", "k" * 32)
    failed = pd.body(notice("failover_failed", {"plan": "p9", "error": "switch: REFUSED"}))
    done = pd.body(notice("failover_finished", {"plan": "p9"}))
    for body in (failed, done):
        valid_pagerduty_event(body)
    assert (failed["event_action"], done["event_action"]) == ("trigger", "resolve")
    assert failed["dedup_key"] == done["dedup_key"] == "failoverd/webapp/failover/p9"
    assert failed["payload"]["severity"] == "critical"
    blocked = pd.body(notice("blocked", {"blocked": "standby_not_ready"}))
    cleared = pd.body(notice("blocked_cleared", {"was": "standby_not_ready"}))
    assert blocked["dedup_key"] == cleared["dedup_key"] and cleared["event_action"] == "resolve"


@pytest.mark.parametrize(
    "ending", ["proposal_approved", "proposal_rejected", "proposal_expired", "proposal_withdrawn"]
)
def test_pagerduty_resolves_the_proposal_however_it_ends(ending):
    pd = PagerDuty("pd", 1.0, None, "http://127.0.0.1:9/", "k" * 32)
    proposed = pd.body(notice("failover_proposed", {}))
    ended = pd.body(notice(ending, {}))
    valid_pagerduty_event(ended)
    assert (proposed["event_action"], ended["event_action"]) == ("trigger", "resolve")
    assert proposed["dedup_key"] == ended["dedup_key"] == "failoverd/webapp/proposal"


def test_a_pagerduty_filter_that_pages_an_incident_also_takes_what_resolves_it():
    pd = PagerDuty("pd", 1.0, ["failover_proposed", "blocked"], "http://127.0.0.1:9/", "k" * 32)
    resolving = ["proposal_approved", "proposal_rejected", "proposal_expired", "blocked_cleared"]
    assert [e for e in resolving if not pd.accepts(e)] == []
    assert not pd.accepts("failover_started") and not pd.accepts("rpo_objective_met")
    hook = Webhook("hook", 1.0, ["failover_proposed"], "http://127.0.0.1:9/")
    assert not hook.accepts("proposal_approved"), "only PagerDuty closes what it opened"


def test_pagerduty_limits_hold_for_huge_names_and_messages():
    pd = PagerDuty("pd", 1.0, None, "http://127.0.0.1:9/", "k" * 32)
    body = pd.body(
        notice("failover_failed", {"plan": "p" * 400}, service="s" * 300, message="x" * 5000)
    )
    valid_pagerduty_event(body)


def test_the_slack_line_reads_like_a_sentence_with_the_key_facts():
    n = notice(
        "failover_finished",
        {
            "plan": "p1",
            "from": "primary",
            "to": "standby",
            "trigger": "auto",
            "rto_seconds": 3.54,
            "rpo_seconds": 12.0,
        },
        message="failover finished: traffic on the standby in 3.5s",
    )
    line = summary(n)
    assert line == (
        "webapp: failover finished: traffic on the standby in 3.5s, move primary -> "
        "standby, trigger auto, rto 3.5s, rpo 12.0s"
    )
    assert dedup_key(n) == "failoverd/webapp/failover/p1"


async def test_slack_gets_a_text_line_and_fields(receiver):
    slack = Slack("slack", 1.0, None, receiver.url)
    import aiohttp

    async with aiohttp.ClientSession() as session:
        await slack.send(
            session, notice("failover_failed", {"failed_step": "switch", "error": "REFUSED"})
        )
    (body,) = receiver.got
    assert (
        body["text"].startswith(":rotating_light: webapp: m")
        and "failed step switch" in body["text"]
    )
    fields = [f["text"] for f in body["blocks"][1]["fields"]]
    assert "*Failed step*\nswitch" in fields and "*Error*\nREFUSED" in fields


async def test_notify_test_reports_each_sinks_answer(receiver, tmp_path):
    broken = Webhook("broken", 0.5, None, f"http://{LOOPBACK}:9/nothing-listens")
    n = notifier([webhook(receiver), broken], tmp_path)
    await n.start()
    try:
        answers = await n.test()
    finally:
        await n.stop()
    assert answers["webhook"]["ok"] and answers["webhook"]["answer"].startswith("202")
    assert not answers["broken"]["ok"] and "Connect" in answers["broken"]["answer"]
    assert receiver.got[0]["event"] == "test"
