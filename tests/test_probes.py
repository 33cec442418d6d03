"""Probes against real local servers: failure is data, with a reason, within the timeout."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest
from aiohttp import web

from failoverd import config, probes
from failoverd.clients.clusters import Clusters
from failoverd.probes import http as http_probe
from tests import lab


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


@pytest.fixture
async def tls_backend(tmp_path):
    server_ctx, ca = lab.self_signed(tmp_path / "tls")
    b = lab.Backend(tls=server_ctx)
    await b.start()
    yield b, ca
    await b.close()


async def test_https_probe_trusts_its_ca_file_and_refuses_an_unknown_certificate(tls_backend):
    b, ca = tls_backend
    assert b.url.startswith("https://")
    obs = await probe(spec(http={"url": b.url, "ca_file": str(ca)}))
    assert obs.ok and obs.detail == "HTTP 200"
    obs = await probe(spec(http={"url": b.url}))  # the system's CAs do not know it
    assert not obs.ok and obs.detail == "TLS: certificate verify failed: self-signed certificate"
    assert (await probe(spec(http={"url": b.url, "verify_tls": False}))).ok


def test_https_probes_share_tls_contexts_and_a_rotated_ca_file_gets_a_new_one(tmp_path):
    """A context holds its CA bundle in memory: one per probe would cost ~0.8 MB each."""
    _, ca = lab.self_signed(tmp_path / "a")
    url = "https://127.0.0.1:1/healthz"
    system = config.HttpProbe(url=url)
    assert http_probe.ssl_context(system) is True  # aiohttp's one verifying default context
    assert http_probe.ssl_context(config.HttpProbe(url=url, verify_tls=False)) is False
    first = http_probe.ssl_context(config.HttpProbe(url=url, ca_file=str(ca)))
    again = http_probe.ssl_context(config.HttpProbe(url=url + "?other", ca_file=str(ca)))
    assert isinstance(first, ssl.SSLContext) and again is first
    _, other = lab.self_signed(tmp_path / "b")
    ca.write_bytes(other.read_bytes())  # the bundle is rotated on disk; a reload builds again
    rotated = http_probe.ssl_context(config.HttpProbe(url=url, ca_file=str(ca)))
    assert isinstance(rotated, ssl.SSLContext) and rotated is not first


async def test_https_to_a_plain_http_port_is_a_tls_failure_that_says_so(backend):
    obs = await probe(spec(http={"url": backend.url.replace("http://", "https://")}))
    assert not obs.ok and obs.detail.startswith("TLS: ") and "not permitted" not in obs.detail


# --------------------------------------------------------------------------- witness peers


@pytest.fixture
async def peer():
    """A witness peer on loopback that answers GET /v1/services/webapp/view with `peer.body`."""
    answer = {"body": ""}

    async def view(_: web.Request) -> web.Response:
        return web.Response(text=answer["body"], content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/services/webapp/view", view)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = lab.free_port()
    await web.TCPSite(runner, lab.LOOPBACK, port).start()
    try:
        yield answer, f"http://{lab.LOOPBACK}:{port}"
    finally:
        await runner.cleanup()


def peer_view(**side: str) -> str:
    """The peer's answer as text (so it can carry what Python's json would never write)."""
    fields = {"healthy": "true", "observed_at": "999.5", "consecutive_failed": "0", **side}
    primary = ", ".join(f'"{k}": {v}' for k, v in fields.items() if v != "-")
    return f'{{"service": "webapp", "time": 1000.0, "interval": 1.0, "sides": {{"primary": {{{primary}}}}}}}'


async def witness(url: str) -> probes.Observation:
    s = spec(witness={"name": "bastion", "api": url, "timeout": "1s"})
    async with aiohttp.ClientSession() as session:
        ctx = probes.ProbeContext(session, Clusters({}), service="webapp", side="primary")
        return await probes.build(s, ctx)()


async def test_a_witness_peer_that_sees_the_side_up_is_a_healthy_probe(peer):
    answer, url = peer
    answer["body"] = peer_view()
    obs = await witness(url)
    assert obs.ok and obs.detail == "bastion sees it up"


async def test_a_witness_peer_that_sees_the_side_down_counts_its_rounds_in_the_reason(peer):
    answer, url = peer
    answer["body"] = peer_view(healthy="false", consecutive_failed="4")
    assert (await witness(url)).detail == "bastion sees it down (4 rounds)"
    answer["body"] = peer_view(healthy="false", consecutive_failed="9" * 4000)
    obs = await witness(url)
    assert not obs.ok and obs.detail == "bastion sees it down (? rounds)"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (peer_view(observed_at='"yesterday"'), "sides.primary.observed_at is not a number"),
        (peer_view(observed_at="[999]"), "sides.primary.observed_at is not a number"),
        (peer_view(observed_at="1e400"), "sides.primary.observed_at is not a finite number"),
        (peer_view(observed_at="NaN"), "sides.primary.observed_at is not a finite number"),
        (peer_view(observed_at="1" + "0" * 400), "sides.primary.observed_at is not a finite"),
        (peer_view(observed_at="true"), "sides.primary.observed_at is not a number"),
        (peer_view(observed_at="1e9"), "its verdict is from the future"),
        (peer_view(healthy='"false"'), "sides.primary.healthy is not true or false"),
        (peer_view(healthy="1"), "sides.primary.healthy is not true or false"),
        (peer_view(healthy="-"), "sides.primary.healthy is not true or false"),
        (peer_view().replace('"interval": 1.0', '"interval": "1s"'), "interval is not a number"),
        (peer_view().replace('"interval": 1.0', '"interval": 0'), "interval is not above 0"),
        (
            peer_view().replace('"interval": 1.0', '"interval": Infinity'),
            "interval is not a finite",
        ),
        (peer_view().replace('"time": 1000.0', '"time": "now"'), "time is not a number"),
        (peer_view().replace('"primary"', '"standby"'), "no verdict on the primary"),
        ('{"service": "webapp", "interval": 1.0}', "no verdict on the primary"),
        ('{"sides": [1, 2], "interval": 1.0}', "no verdict on the primary"),
        ('{"sides": {"primary": 7}, "interval": 1.0}', "no verdict on the primary"),
        ("[1, 2, 3]", "answered a list, not an object"),
        ("null", "answered null, not an object"),
        ('"ok"', "answered a string, not an object"),
        ("9" * 5000, "ValueError"),
    ],
)
async def test_a_witness_peer_with_a_bad_answer_is_a_failed_probe_with_a_reason(peer, body, reason):
    answer, url = peer
    answer["body"] = body
    obs = await witness(url)
    assert not obs.ok and obs.detail.startswith("bastion: ") and reason in obs.detail, obs.detail
