"""Probes against real local servers: failure is data, with a reason, within the timeout."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from chaos import lab
from failoverd import config, probes
from failoverd.clusters import Clusters


def spec(**kind: dict) -> config.ProbeSpec:
    return config.ProbeSpec.model_validate(kind)


@pytest.fixture
async def backend():
    async with lab.backends(1) as (b,):
        yield b


async def probe(s: config.ProbeSpec) -> probes.Observation:
    async with aiohttp.ClientSession() as session:
        return await probes.build(s, probes.ProbeContext(session, Clusters({})))()


async def test_http_probe_is_healthy_on_an_expected_status(backend):
    obs = await probe(spec(http={"url": backend.url}))
    assert obs.ok and obs.detail == "HTTP 200" and obs.latency > 0


async def test_http_probe_fails_on_503_and_on_a_refused_connection(backend):
    backend.mode = "503"
    obs = await probe(spec(http={"url": backend.url}))
    assert not obs.ok and obs.detail == "HTTP 503"
    await backend.down()
    obs = await probe(spec(http={"url": backend.url}))
    assert not obs.ok and obs.detail == "connect: Connection refused"


async def test_http_probe_times_out_on_a_slow_backend(backend):
    backend.mode, backend.delay = "slow", 2.0
    obs = await probe(spec(http={"url": backend.url, "timeout": "200ms"}))
    assert not obs.ok and obs.detail == "timeout after 0.2s" and obs.latency < 1.0


async def test_http_probe_can_require_a_body_and_other_statuses(backend):
    assert (await probe(spec(http={"url": backend.url, "body_contains": "up"}))).ok
    obs = await probe(spec(http={"url": backend.url, "body_contains": "green"}))
    assert not obs.ok and "body lacks 'green'" in obs.detail
    backend.mode = "503"
    assert (await probe(spec(http={"url": backend.url, "expect_status": [200, 503]}))).ok


async def test_tcp_probe_connects_or_says_why(backend):
    assert (await probe(spec(tcp={"host": lab.LOOPBACK, "port": backend.port}))).ok
    await backend.down()
    obs = await probe(spec(tcp={"host": lab.LOOPBACK, "port": backend.port}))
    assert not obs.ok and obs.detail.startswith("connect:")


async def test_dns_probe_checks_the_answer_of_a_real_server(dns_record):
    s = {"server": dns_record.server, "name": lab.RECORD}
    obs = await probe(spec(dns=s))
    assert obs.ok and obs.detail == lab.PRIMARY_IP
    obs = await probe(spec(dns={**s, "expect": [lab.STANDBY_IP]}))
    assert not obs.ok and "!= expected" in obs.detail
    obs = await probe(spec(dns={**s, "name": "nothing.example.test."}))
    assert not obs.ok and obs.detail == "NXDOMAIN"


async def test_dns_probe_times_out_when_nothing_answers():
    obs = await probe(
        spec(
            dns={
                "server": f"{lab.LOOPBACK}:{lab.free_port()}",
                "name": lab.RECORD,
                "timeout": "300ms",
            }
        )
    )
    assert not obs.ok


async def test_command_probe_is_healthy_on_exit_0_and_says_why_not():
    ok = await probe(spec(command={"argv": ["sh", "-c", "echo replica lag 0s"]}))
    assert ok.ok and ok.detail == "replica lag 0s"
    bad = await probe(spec(command={"argv": ["sh", "-c", "echo lag 90s; exit 2"]}))
    assert not bad.ok and bad.detail == "sh exited 2: lag 90s"


async def test_slow_targets_do_not_starve_probes_of_healthy_ones():
    async with lab.backends(2) as (slow, fast):
        slow.mode, slow.delay = "slow", 3.0
        async with probes.session() as session:
            clusters = Clusters({})
            slow_probes = [
                probes.build(
                    spec(http={"url": f"{slow.url}?n={i}", "timeout": "2s"}),
                    probes.ProbeContext(session, clusters),
                )
                for i in range(150)
            ]
            in_flight = [asyncio.create_task(p()) for p in slow_probes]
            try:
                async with asyncio.timeout(5):
                    await slow.wait_requests(150)  # all 150 hang at the slow target now
            except TimeoutError:
                pytest.fail(
                    f"only {slow.requests} of 150 probes reached the target: the pool caps probes"
                )
            obs = await probes.build(
                spec(http={"url": fast.url, "timeout": "500ms"}),
                probes.ProbeContext(session, clusters),
            )()
            assert obs.ok, f"a healthy target's probe waited behind slow ones: {obs.detail}"
            assert not any(o.ok for o in await asyncio.gather(*in_flight))


def test_the_shared_session_has_no_connection_cap():
    async def check() -> int:
        async with probes.session() as session:
            return session.connector.limit

    assert asyncio.run(check()) == 0
