"""`failoverd demo`: the first thing a newcomer runs must work and end with the RTO."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp
import pytest

pytestmark = pytest.mark.e2e


async def start_demo(*args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "failoverd",
        "demo",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def test_the_demo_fails_over_and_ends_with_the_measured_rto():
    proc = await start_demo()
    async with asyncio.timeout(30):  # the demo promises to finish in under 30 s
        out, err = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "route53:" in text and "hosted_zone_id:" in text, "the config is printed"
    assert "primary_suspect → failing_over" in text and "failing_over → standby_active" in text
    assert "A 198.51.100.10" in text.split("Taking the primary down")[1]
    last = text.strip().splitlines()[-1]
    rto = float(re.fullmatch(r"Measured RTO: ([0-9.]+) s .*", last).group(1))
    assert 0 < rto < 10
    assert not err.decode().strip(), "nothing but the timeline on the terminal"


async def test_keep_running_leaves_the_api_up_until_interrupted():
    proc = await start_demo("--keep-running")
    assert proc.stdout is not None
    url = None
    async with asyncio.timeout(30):
        async for raw in proc.stdout:
            m = re.search(r"curl -s (http://127\.0\.0\.1:\d+)/v1/status", raw.decode())
            if m:
                url = m.group(1)
                break
    assert url, "the demo printed its API address"
    async with aiohttp.ClientSession() as http, http.get(f"{url}/v1/status") as r:
        svc = (await r.json())["services"]["webapp"]
    assert (svc["state"], svc["active"]) == ("standby_active", "standby")
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(20):
        rest, _ = await proc.communicate()
    assert proc.returncode == 0 and b"Measured RTO" in rest
