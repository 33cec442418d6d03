"""Hot mode end to end: `failoverd run` as a process, a real BIND, real HTTP backends."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from chaos import lab

pytestmark = pytest.mark.e2e


async def status(http: aiohttp.ClientSession, d: lab.Daemon) -> dict:
    async with http.get(f"{d.api}/v1/status") as r:
        assert r.status == 200
        return (await r.json())["services"]["webapp"]


async def post(http: aiohttp.ClientSession, d: lab.Daemon, verb: str, token: str | None, service: str = "webapp"):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.post(f"{d.api}/v1/services/{service}/{verb}", json={"reason": "test"}, headers=headers) as r:
        return r.status, await r.json()


async def metric(http: aiohttp.ClientSession, d: lab.Daemon, name: str, **labels: str) -> float | None:
    async with http.get(f"{d.api}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


async def test_hard_down_primary_moves_the_dns_answer_to_the_standby_in_time(daemon, sides, http):
    primary, _ = sides
    d = await daemon.start(interval="500ms", failure_threshold=3, recovery_threshold=2)
    await d.wait_for("side_ready", side="standby")
    s = await status(http, d)
    assert (s["state"], s["active"]) == ("primary_active", "primary")
    assert daemon.bind.answer() == [lab.PRIMARY_IP]
    outage = time.monotonic()
    await primary.down()
    done = await d.wait_for("plan_done", timeout=10)
    assert done["result"] == "success"
    assert daemon.bind.answer() == [lab.STANDBY_IP]
    assert done["_t"] - outage <= 0.5 * 3 + 2.0
    s = await status(http, d)
    assert (s["state"], s["active"]) == ("standby_active", "standby")
    assert s["last_failover"]["rto_seconds"] > 0
    assert [st["name"] for st in s["last_failover"]["steps"]] == ["switch", "verify"]
    assert await metric(http, d, "failoverd_failovers_total", trigger="auto", result="success") == 1
    assert await metric(http, d, "failoverd_last_failover_rto_seconds") == pytest.approx(s["last_failover"]["rto_seconds"])
    assert await metric(http, d, "failoverd_active_side", side="standby") == 1
