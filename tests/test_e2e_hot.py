"""Hot mode end to end: `failoverd run` as a process, a real BIND, real HTTP backends."""

from __future__ import annotations

import json
import signal
import time

import aiohttp
import pytest

from failoverd.app.answers import StatusAnswer
from tests import lab

pytestmark = pytest.mark.e2e


async def post(
    http: aiohttp.ClientSession,
    d: lab.Daemon,
    verb: str,
    token: str | None,
    service: str = "webapp",
):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.post(
        f"{d.api}/v1/services/{service}/{verb}", json={"reason": "test"}, headers=headers
    ) as r:
        return r.status, await r.json()


async def test_hard_down_primary_moves_the_dns_answer_to_the_standby_in_time(daemon, sides, http):
    primary, _ = sides
    d = await daemon.start(interval="500ms", failure_threshold=3, recovery_threshold=2)
    await d.wait_for("side_ready", side="standby")
    s = await d.status()
    assert (s["state"], s["active"]) == ("primary_active", "primary")
    assert daemon.bind.answer() == [lab.PRIMARY_IP]
    outage = time.monotonic()
    await primary.down()
    done = await d.wait_for("plan_done", timeout=10)
    assert done["result"] == "success"
    assert daemon.bind.answer() == [lab.STANDBY_IP]
    assert done["_t"] - outage <= 0.5 * 3 + 2.0
    s = await d.status()
    assert (s["state"], s["active"]) == ("standby_active", "standby")
    assert s["last_failover"]["rto_seconds"] > 0
    assert [st["name"] for st in s["last_failover"]["steps"]] == ["switch", "verify"]
    answer = StatusAnswer.model_validate(await d.status(None))  # what `failoverd status` reads
    last = answer.services["webapp"].last_failover
    assert last is not None and (last.kind, last.result, last.trigger) == (
        "failover",
        "success",
        "auto",
    )
    assert await d.metric("failoverd_failovers_total", trigger="auto", result="success") == 1
    assert await d.metric("failoverd_last_failover_rto_seconds") == pytest.approx(
        s["last_failover"]["rto_seconds"]
    )
    assert await d.metric("failoverd_active_side", side="standby") == 1


async def test_a_primary_failing_two_rounds_in_three_for_12s_causes_no_failover(
    daemon, sides, http
):
    primary, _ = sides
    d = await daemon.start(interval="500ms", failure_threshold=3, recovery_threshold=2)
    await d.wait_for("side_ready", side="standby")
    primary.flap([False, False, True])
    start = primary.requests
    await primary.wait_requests(start + 24)  # 24 rounds at 500ms: 12 s of flapping
    assert d.matching("transition", to="primary_suspect"), "the flapping was seen"
    assert not d.matching("plan_start")
    assert daemon.bind.answer() == [lab.PRIMARY_IP]
    assert (await d.status())["active"] == "primary"


async def test_primary_and_standby_both_down_keeps_traffic_and_blocks(daemon, sides, http):
    primary, standby = sides
    d = await daemon.start(interval="500ms", failure_threshold=3, recovery_threshold=2)
    await d.wait_for("side_ready", side="standby")
    await standby.down()
    await primary.down()
    blocked = await d.wait_for("transition", to="blocked")
    assert "standby is not ready" in blocked["reason"]
    await d.wait_for("notify", notify_event="blocked")
    s = await d.status()
    assert (s["state"], s["active"], s["blocked"]) == ("blocked", "primary", "standby_not_ready")
    assert daemon.bind.answer() == [lab.PRIMARY_IP]
    assert not d.matching("plan_start")


async def test_after_sigkill_a_restarted_daemon_stays_on_the_standby_until_failback(
    daemon, sides, http, token
):
    primary, _ = sides
    d = await daemon.start(interval="500ms", failure_threshold=3, recovery_threshold=2)
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    await d.wait_for("plan_done", result="success")
    await d.kill()
    await primary.up()
    d2 = await daemon.start(interval="500ms", failure_threshold=3, recovery_threshold=2)
    await d2.wait_for("side_ready", side="primary")
    s = await d2.status()
    assert (s["state"], s["active"]) == ("standby_active", "standby")
    assert daemon.bind.answer() == [lab.STANDBY_IP]
    assert s["last_failover"]["kind"] == "failover", "the last failover survived the crash"
    code, _ = await post(http, d2, "failback", token[0])
    assert code == 202
    done = await d2.wait_for("plan_done", kind="failback")
    assert done["result"] == "success"
    assert daemon.bind.answer() == [lab.PRIMARY_IP]
    s = await d2.status()
    assert (s["state"], s["active"]) == ("primary_active", "primary")
    assert await d2.metric("failoverd_failovers_total", trigger="manual", result="success") == 1


async def test_the_api_demands_the_token_and_answers_404_and_409(daemon, http, token):
    d = await daemon.start(interval="500ms", recovery_threshold=1)
    await d.wait_for("side_ready", side="standby")
    assert (await post(http, d, "failover", None))[0] == 401
    assert (await post(http, d, "failover", "wrong-" + token[0]))[0] == 401
    assert (await post(http, d, "failover", token[0], service="nope"))[0] == 404
    assert (await post(http, d, "failback", token[0]))[0] == 409
    code, body = await post(http, d, "failover", token[0])
    assert code == 202, body
    await d.wait_for("plan_done", result="success")
    assert daemon.bind.answer() == [lab.STANDBY_IP]
    code, body = await post(http, d, "failover", token[0])
    assert code == 409 and "standby" in body["detail"]
    assert await d.metric("failoverd_failovers_total", trigger="manual", result="success") == 1
    assert await d.metric("failoverd_failovers_total", trigger="auto", result="success") == 0
    async with http.get(f"{d.api}/v1/events") as r:
        events = (await r.json())["events"]
    assert events[0]["to"] == "standby_active" and events[1]["to"] == "failing_over"


async def test_a_daemon_started_on_an_already_switched_record_adopts_it(daemon, http):
    daemon.bind.set_record(lab.STANDBY_IP)
    d = await daemon.start(interval="500ms")
    adopted = await d.wait_for("transition", to="standby_active")
    assert "adopting" in adopted["reason"]
    assert (await d.status())["active"] == "standby"
    assert daemon.bind.answer() == [lab.STANDBY_IP]


async def test_sigterm_exits_0_and_sighup_with_a_broken_config_keeps_the_running_one(
    daemon, sides, http
):
    d = await daemon.start(interval="500ms")
    await d.wait_for("first_round")
    daemon.config_path.write_text(
        daemon.config_path.read_text().replace("failure_threshold: 3", "failure_threshold: 0")
    )
    await d.signal(signal.SIGHUP)
    failed = await d.wait_for("reload_failed")
    assert any("failure_threshold" in e and ":" in e for e in failed["errors"])
    async with http.get(f"{d.api}/healthz") as r:
        assert r.status == 200
    assert await d.stop() == 0
    assert d.matching("stopped")


async def test_a_key_the_server_refuses_blocks_with_the_servers_answer(
    daemon, sides, tmp_path, http
):
    primary, _ = sides
    wrong = tmp_path / "wrong.key"
    wrong.write_text('key "ddns-key" { algorithm hmac-sha256; secret "' + "QUJD" * 11 + '"; };')
    cfg = daemon.config(interval="500ms", recovery_threshold=1)
    cfg["services"]["webapp"]["traffic"]["rfc2136"]["tsig"]["secret_file"] = str(wrong)
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    done = await d.wait_for("plan_done")
    assert done["result"] == "failed"
    s = await d.status()
    assert (s["state"], s["blocked"], s["active"]) == ("blocked", "plan_failed", "primary")
    switch = s["last_failover"]["steps"][0]
    assert switch["name"] == "switch" and switch["attempts"] == 1, "a refused key is not retried"
    assert "NOTAUTH" in switch["error"] or "TSIG" in switch["error"]
    assert daemon.bind.answer() == [lab.PRIMARY_IP]


async def test_no_secret_reaches_the_log(daemon, sides, token, http):
    primary, _ = sides
    d = await daemon.start(interval="500ms", recovery_threshold=1)
    await d.wait_for("side_ready", side="standby")
    await post(http, d, "pause", token[0])
    assert (await post(http, d, "resume", "wrong"))[0] == 401
    assert (await post(http, d, "resume", token[0]))[0] == 202
    await primary.down()
    await d.wait_for("transition", to="primary_suspect")
    await d.stop()
    log = "\n".join(d.raw)
    assert daemon.bind.secret not in log
    assert token[0] not in log
    assert "operator_command" in log, "the log was written"


cli = lab.cli


async def test_the_cli_client_shows_status_and_sends_commands_with_the_token(daemon, token):
    d = await daemon.start(interval="500ms", recovery_threshold=1)
    await d.wait_for("side_ready", side="standby")
    code, out, _ = await cli("status", "--api", d.api)
    assert code == 0 and "webapp" in out and "primary_active" in out
    code, _, err = await cli("failover", "webapp", "--api", d.api)
    assert code == 2 and "401" in err
    code, out, _ = await cli(
        "failover", "webapp", "--api", d.api, "--token-file", str(token[1]), "--reason", "drill"
    )
    assert code == 0 and "accepted" in out
    await d.wait_for("plan_done", result="success")
    code, _, err = await cli(
        "failover", "webapp", "--api", d.api, env={"FAILOVERD_API_TOKEN": token[0]}
    )
    assert code == 1 and "409" in err
    code, out, _ = await cli("status", "--json", "--api", d.api)
    assert json.loads(out)["services"]["webapp"]["active"] == "standby"
