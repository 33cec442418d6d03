"""Client-seen RTO: after the switch, wait for real recursive resolvers to answer the move."""

from __future__ import annotations

import pytest

from tests import lab

pytestmark = pytest.mark.e2e


async def test_the_client_seen_rto_waits_for_a_caching_resolver_and_names_one_that_never_moves(
    daemon, sides, tmp_path, http
):
    primary, _ = sides

    with lab.unbound(tmp_path / "unbound", daemon.bind) as resolver:
        cfg = daemon.config(interval="500ms")
        cfg["services"]["webapp"]["verify"] = {
            "resolvers": [resolver],
            "within": "15s",
            "poll": "200ms",
        }
        d = await daemon.start(cfg)
        await d.wait_for("side_ready", side="standby")
        lab.resolve_through(resolver)  # the resolver caches the primary's answer (TTL 5 s)
        await primary.down()
        done = await d.wait_for("plan_done", result="success")
        measured = await d.wait_for("client_rto", timeout=20)
        async with http.get(f"{d.api}/v1/status") as r:
            last = (await r.json())["services"]["webapp"]["last_failover"]
    assert (
        measured["unconverged"] == []
        and last["client_rto_seconds"] == measured["client_rto_seconds"]
    )
    print(f"RTO {done['rto_seconds']:.2f}s, client-seen {measured['client_rto_seconds']:.2f}s")
    # the cache held the old answer for up to its TTL (5 s) after the authoritative switch
    assert done["rto_seconds"] < measured["client_rto_seconds"] <= done["rto_seconds"] + 5 + 1
    assert d.matching("plan_done")[0]["result"] == "success"


async def test_a_resolver_that_never_converges_is_named_and_the_failover_still_succeeds(
    daemon, sides, tmp_path
):
    primary, _ = sides
    dead = f"{lab.LOOPBACK}:{lab.free_port()}"
    cfg = daemon.config(interval="500ms")
    cfg["services"]["webapp"]["verify"] = {"resolvers": [dead], "within": "2s", "poll": "200ms"}
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    done = await d.wait_for("plan_done")
    measured = await d.wait_for("client_rto", timeout=10)
    assert done["result"] == "success"
    assert measured["unconverged"] == [dead] and measured["client_rto_seconds"] is None
    assert measured["level"] == "warning"
