"""Two vantage points on one machine: the primary listens on 127.0.0.1 and 127.0.0.2.

The arbiter daemon probes 127.0.0.1 and asks a witness (a second, observe-only daemon that
probes 127.0.0.2). Cutting 127.0.0.1 alone is a partition only the arbiter sees.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from tests import lab
from tests.lab import DaemonFactory

pytestmark = pytest.mark.e2e
WITNESS_ADDRESS = "127.0.0.2"


@pytest.fixture
async def wsides() -> AsyncIterator[tuple[lab.Backend, lab.Backend]]:
    async with lab.backends(2, also=(WITNESS_ADDRESS,)) as (primary, standby):
        yield primary, standby


@pytest.fixture
async def daemon(tmp_path, dns_record, wsides, token) -> AsyncIterator[DaemonFactory]:
    """The arbiter, probing the two-address backends."""
    factory = DaemonFactory(tmp_path, dns_record, wsides, token)
    yield factory
    for d in factory.started:
        await d.kill()


@contextlib.asynccontextmanager
async def witness(
    tmp_path, primary: lab.Backend, standby: lab.Backend
) -> AsyncIterator[lab.Daemon]:
    """The second vantage point: observe-only, probing the sides on 127.0.0.2."""
    port = lab.free_port()
    cfg = {
        "api": {"listen": f"{lab.LOOPBACK}:{port}"},
        "state": {"path": str(tmp_path / "witness" / "state.json")},
        "log": {"format": "json"},
        "observe_only": True,
        "services": {
            "webapp": {
                "primary": "beijing",
                "standby": "shanghai",
                "probes": {
                    "primary": [
                        {"http": {"url": primary.url_on(WITNESS_ADDRESS), "timeout": "300ms"}}
                    ],
                    "standby": [
                        {"http": {"url": standby.url_on(WITNESS_ADDRESS), "timeout": "300ms"}}
                    ],
                },
                "policy": {"interval": "500ms", "failure_threshold": 3, "recovery_threshold": 2},
            }
        },
    }
    path = lab.write_config(tmp_path / "witness.yaml", cfg)
    d = lab.Daemon(path, port, "unused")
    await d.start()
    try:
        yield d
    finally:
        await d.kill()


def arbiter_config(daemon, witness_daemon: lab.Daemon) -> dict:
    cfg = daemon.config(interval="500ms", quorum="all")
    cfg["services"]["webapp"]["probes"]["primary"].append(
        {"witness": {"name": "bastion", "api": witness_daemon.api, "timeout": "300ms"}}
    )
    return cfg


async def primary_probes(http, d) -> dict[str, dict]:
    async with http.get(f"{d.api}/v1/status") as r:
        svc = (await r.json())["services"]["webapp"]
    return {p["probe"]: p for p in svc["probes"]["primary"]} | {"_state": svc["state"]}


async def test_a_partition_only_the_arbiter_sees_moves_nothing(daemon, wsides, tmp_path, http):
    primary, _ = wsides
    async with witness(tmp_path, *wsides) as w:
        d = await daemon.start(arbiter_config(daemon, w))
        await d.wait_for("side_ready", side="standby")
        await primary.partition(lab.LOOPBACK)
        seen = primary.requests
        await primary.wait_requests(seen + 12)  # six seconds of the witness probing 127.0.0.2
        probes = await primary_probes(http, d)
    assert not d.matching("plan_start") and probes["_state"] == "primary_active"
    assert not probes["http"]["ok"] and "refused" in probes["http"]["reason"], probes
    assert probes["bastion"]["ok"] and probes["bastion"]["reason"] == "bastion sees it up"


async def test_a_primary_really_down_fails_over_and_the_reason_names_the_witness(
    daemon, wsides, tmp_path
):
    primary, _ = wsides
    async with witness(tmp_path, *wsides) as w:
        d = await daemon.start(arbiter_config(daemon, w))
        await d.wait_for("side_ready", side="standby")
        await primary.down()
        start = await d.wait_for("plan_start")
        await d.wait_for("plan_done", result="success")
    assert "1 of 1 probes down, witness bastion agrees" in start["reason"]
    assert daemon.bind.answer() == [lab.STANDBY_IP]


async def test_a_dead_witness_warns_and_moves_nothing_while_the_primary_is_healthy(
    daemon, wsides, tmp_path, http
):
    primary, _ = wsides
    async with witness(tmp_path, *wsides) as w:
        d = await daemon.start(arbiter_config(daemon, w))
        await d.wait_for("side_ready", side="standby")
        await w.kill()
        failed = await d.wait_for("witness_failed")
        seen = primary.requests
        await primary.wait_requests(seen + 10)  # five seconds of the arbiter's own probes
        probes = await primary_probes(http, d)
    assert failed["witness"] == "bastion" and "bastion:" in failed["answer"]
    assert not d.matching("plan_start") and probes["_state"] == "primary_active"


async def test_a_dead_witness_and_a_dead_primary_still_fail_over_with_quorum_all(
    daemon, wsides, tmp_path
):
    primary, _ = wsides
    async with witness(tmp_path, *wsides) as w:
        d = await daemon.start(arbiter_config(daemon, w))
        await d.wait_for("side_ready", side="standby")
        await w.kill()
        await primary.down()
        done = await d.wait_for("plan_done")
    assert done["result"] == "success" and daemon.bind.answer() == [lab.STANDBY_IP]


async def test_the_witness_serves_its_view_and_refuses_to_act(wsides, tmp_path, http, token):
    async with witness(tmp_path, *wsides) as w:
        await w.wait_for("side_ready", side="primary")
        async with http.get(f"{w.api}/v1/services/webapp/view") as r:
            view = await r.json()
        async with http.get(f"{w.api}/v1/services/nope/view") as r:
            assert r.status == 404
    assert view["observe_only"] and view["interval"] == 0.5
    assert view["sides"]["primary"]["healthy"] and view["sides"]["primary"]["consecutive_ok"] >= 2
    assert not w.matching("adopt_failed") and not w.matching("plan_start")
