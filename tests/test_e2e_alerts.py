"""The alert rules against a real daemon: what it exports from its first scrape, and a real
Prometheus (Debian's) that scrapes it with the rules loaded as they ship."""

from __future__ import annotations

import re
import signal
import time
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests import lab
from tests.lab import prometheus as lab_prometheus

pytestmark = pytest.mark.e2e

SERIES = re.compile(r"\b(failoverd_[a-z_]+)\s*(\{[^}]*\})?")
RANGE_OF = re.compile(r"\b(increase|rate|irate|resets)\(\s*(failoverd_[a-z_]+)")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(lab_prometheus.RULES.read_text())["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def selected(labels: dict[str, str], matchers: str) -> bool:
    """Whether a sample's labels satisfy a PromQL selector's matchers ('{a="x",b=~"y|z"}')."""
    for name, op, value in MATCHER.findall(matchers):
        have = labels.get(name, "")
        hit = re.fullmatch(value, have) is not None if op in ("=~", "!~") else have == value
        if hit != (op in ("=", "=~")):
            return False
    return True


def families_by_series(text: str) -> dict[str, Metric]:
    """Each family of an exposition under every series name it writes (x, x_total, x_bucket...)."""
    found: dict[str, Metric] = {}
    for f in text_string_to_metric_families(text):
        for suffix in ("", "_total", "_bucket", "_sum", "_count", "_created"):
            found[f.name + suffix] = f
    return found


async def metrics_text(http: aiohttp.ClientSession, d: lab.Daemon) -> str:
    async with http.get(f"{d.api}/metrics") as r:
        assert r.status == 200
        return await r.text()


def assert_every_alerted_counter_is_at_zero(text: str) -> None:
    """Each counter an alert queries is exported, at 0, for every series the alert selects;
    an alert applies increase()/rate() to counters only."""
    exported = families_by_series(text)
    for rule in alert_rules():
        name, expr = rule["alert"], rule["expr"]
        for fn, series in RANGE_OF.findall(expr):
            kind = exported[series].type if series in exported else None
            assert kind == "counter", f"{name} takes {fn}() of {series}, a {kind}"
        for series, matchers in SERIES.findall(expr):
            assert series in exported, f"{name} queries {series}; the daemon has none"
            family = exported[series]
            if family.type != "counter":
                continue
            samples = [
                s for s in family.samples if s.name == series and selected(s.labels, matchers)
            ]
            assert samples, f"{name}: {series}{matchers} is not exported before its first event"
            assert all(s.value == 0 for s in samples), (name, samples)


def with_job_and_sink(cfg: dict[str, Any], sink: lab.Receiver) -> dict[str, Any]:
    """`cfg` with a replication job (that succeeds) and a notification sink."""
    cfg["services"]["webapp"]["replication"] = {
        "db": {"every": "1h", "command": {"argv": ["/bin/true"]}}
    }
    cfg["notify"] = [{"webhook": {"url": sink.url}}]
    return cfg


async def test_no_alert_relies_on_a_counter_a_fresh_daemon_has_not_exported_at_zero(daemon, http):
    """increase() of a series born at 1 is nothing: the alert would miss the first event."""
    async with lab.receivers(1) as (sink,):
        d = await daemon.start(with_job_and_sink(daemon.config(), sink))
        assert_every_alerted_counter_is_at_zero(await metrics_text(http, d))


async def test_a_reload_exports_the_counters_of_a_new_job_and_sink_at_zero(daemon, http):
    async with lab.receivers(1) as (sink,):
        d = await daemon.start()
        lab.write_config(daemon.config_path, with_job_and_sink(daemon.config(), sink))
        await d.signal(signal.SIGHUP)
        await d.wait_for("reloaded")
        assert_every_alerted_counter_is_at_zero(await metrics_text(http, d))


async def test_a_real_prometheus_fires_the_alert_of_the_first_failover_since_the_start(
    daemon, sides, tmp_path
):
    if lab_prometheus.binary() is None:
        pytest.skip("Debian's prometheus is not installed (`make bind9` installs it)")
    primary, _ = sides
    t0 = time.monotonic()
    d = await daemon.start()
    target = f"{lab.LOOPBACK}:{daemon.api_port}"
    async with lab_prometheus.prometheus(tmp_path / "prometheus", [target]) as prom:
        await d.wait_for("side_ready", side="standby")
        await prom.scraped("failoverd")  # it has seen the daemon before anything moved
        await primary.down()
        await d.wait_for("plan_done", result="success")
        # FailoverdFailoverHappened has no `for:`: it fires at the first evaluation that sees it
        (alert,) = await prom.firing("FailoverdFailoverHappened", timeout=15)
        took = time.monotonic() - t0
    assert alert["labels"] == {
        "alertname": "FailoverdFailoverHappened",
        "severity": "warning",
        "job": "failoverd",
        "instance": target,
        "service": "webapp",
        "trigger": "auto",
        "result": "success",
    }
    assert took < 30, f"the scenario took {took:.1f}s"
