"""`failoverd run` moving Route 53 records and ALB weights on moto_server (127.0.0.1)."""

from __future__ import annotations

import time

import pytest

from tests import lab
from tests.lab import aws as lab_aws

pytestmark = pytest.mark.e2e
CHANGE = "POST /2013-04-01/hostedzone/"  # ChangeResourceRecordSets, not the reads


@pytest.fixture(scope="module")
def moto_url():
    with lab_aws.moto_server() as url:
        yield url


@pytest.fixture
async def proxy(moto_url, monkeypatch):
    for k, v in lab_aws.CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    p = lab_aws.FaultProxy(moto_url)
    await p.start()
    yield p
    await p.close()


def with_traffic(daemon, traffic: dict, **policy) -> dict:
    cfg = daemon.config(interval="500ms", failure_threshold=3, recovery_threshold=2, **policy)
    cfg["services"]["webapp"]["traffic"] = traffic
    return cfg


def route53(zone: str, proxy) -> dict:
    return {
        "route53": {
            "hosted_zone_id": zone,
            "name": lab.RECORD,
            "type": "A",
            "ttl": 30,
            "primary": [lab.PRIMARY_IP],
            "standby": [lab.STANDBY_IP],
            "region": lab_aws.REGION,
            "endpoint_url": proxy.url,
            "insync_poll": "100ms",
        }
    }


async def test_a_primary_answering_503_moves_the_route53_record_in_time(
    daemon, sides, proxy, moto_url
):
    primary, _ = sides
    zone = lab_aws.make_zone(moto_url)
    d = await daemon.start(with_traffic(daemon, route53(zone, proxy)))
    await d.wait_for("side_ready", side="standby")
    outage = time.monotonic()
    primary.mode = "503"
    done = await d.wait_for("plan_done", kind="failover")
    assert done["result"] == "success"
    assert done["_t"] - outage <= 0.5 * 3 + 2.0
    assert lab_aws.record_values(moto_url, zone) == [lab.STANDBY_IP]


async def test_route53_throttling_is_retried_and_the_switch_still_lands(
    daemon, sides, proxy, moto_url, http
):
    primary, _ = sides
    zone = lab_aws.make_zone(moto_url)
    throttle = proxy.inject(CHANGE, "Throttling", message="Rate exceeded", times=3)
    d = await daemon.start(with_traffic(daemon, route53(zone, proxy)))
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    done = await d.wait_for("plan_done", kind="failover")
    assert done["result"] == "success" and throttle.hits == 3
    assert lab_aws.record_values(moto_url, zone) == [lab.STANDBY_IP]
    async with http.get(f"{d.api}/v1/status") as r:
        steps = (await r.json())["services"]["webapp"]["last_failover"]["steps"]
    assert steps[0]["name"] == "switch" and steps[0]["attempts"] == 4


async def test_route53_access_denied_blocks_with_awss_message(daemon, sides, proxy, moto_url, http):
    primary, _ = sides
    zone = lab_aws.make_zone(moto_url)
    message = "User: arn:aws:iam::123456789012:user/dr is not authorized to perform: route53:ChangeResourceRecordSets"
    proxy.inject(CHANGE, "AccessDenied", status=403, message=message)
    d = await daemon.start(with_traffic(daemon, route53(zone, proxy)))
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    done = await d.wait_for("plan_done", kind="failover")
    assert done["result"] == "failed"
    async with http.get(f"{d.api}/v1/status") as r:
        svc = (await r.json())["services"]["webapp"]
    assert (svc["state"], svc["blocked"]) == ("blocked", "plan_failed")
    switch = svc["last_failover"]["steps"][0]
    assert (
        switch["attempts"] == 1 and message in switch["error"] and "AccessDenied" in switch["error"]
    )
    assert lab_aws.record_values(moto_url, zone) == [lab.PRIMARY_IP]


async def test_elbv2_weights_move_on_failover_and_back_on_failback(
    daemon, sides, proxy, moto_url, token, http
):
    primary, _ = sides
    alb = lab_aws.make_alb(moto_url)
    traffic = {
        "elbv2": {
            "listener_arn": alb.listener_arn,
            "primary_target_group": alb.primary_tg,
            "standby_target_group": alb.standby_tg,
            "region": lab_aws.REGION,
            "endpoint_url": proxy.url,
        }
    }
    d = await daemon.start(with_traffic(daemon, traffic))
    await d.wait_for("side_ready", side="standby")
    assert lab_aws.alb_weights(moto_url, alb) == (100, 0)
    await primary.down()
    assert (await d.wait_for("plan_done", kind="failover"))["result"] == "success"
    assert lab_aws.alb_weights(moto_url, alb) == (0, 100)
    await primary.up()
    await d.wait_for("side_ready", side="primary", nth=2)
    assert await d.command("failback") == 202
    assert (await d.wait_for("plan_done", kind="failback"))["result"] == "success"
    assert lab_aws.alb_weights(moto_url, alb) == (100, 0)
