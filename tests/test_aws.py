"""aws.py's own thread pool: hung AWS calls never starve probes, and every call is bounded."""

from __future__ import annotations

import asyncio
import threading

import pytest

from failoverd import config, probes
from failoverd.clients import aws
from failoverd.clients.clusters import Clusters
from failoverd.kit.errors import TransientError
from tests import lab


async def test_hung_aws_calls_do_not_delay_a_probe_that_resolves_a_hostname():
    release = threading.Event()
    hung = [asyncio.create_task(aws.call("s3 GetObject", release.wait)) for _ in range(32)]
    try:
        await asyncio.sleep(0)  # the calls are in the AWS pool now, every thread blocked
        async with lab.backends(1) as (backend,), probes.session() as session:
            spec = config.ProbeSpec.model_validate(
                {"http": {"url": f"http://localhost:{backend.port}/healthz", "timeout": "1s"}}
            )
            obs = await probes.build(spec, probes.ProbeContext(session, Clusters({})))()
        assert obs.ok, f"a probe waited behind hung AWS calls: {obs.detail}"
    finally:
        release.set()
        await asyncio.gather(*hung, return_exceptions=True)


async def test_a_call_that_never_answers_is_a_transient_error_after_its_timeout():
    release = threading.Event()
    try:
        with pytest.raises(TransientError, match=r"no answer from AWS within 0\.2s"):
            await aws.run(release.wait, timeout=0.2)
    finally:
        release.set()
