"""Counters exist at 0 from the start, so an alert on increase() sees their first event."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from prometheus_client.parser import text_string_to_metric_families

from failoverd import config
from failoverd.kit.metrics import (
    DRILL_KINDS,
    DRILL_OUTCOMES,
    NOTIFY_RESULTS,
    PLAN_RESULTS,
    Metrics,
)
from failoverd.store.records import PlanResult

PACKAGE = Path(__file__).resolve().parent.parent / "failoverd"

SERVICE = """\
  {name}:
    primary: a
    standby: b
    probes:
      primary: [{{http: {{url: "http://127.0.0.1:1/healthz"}}}}]
      standby: [{{tcp: {{host: 127.0.0.1, port: 2}}}}]
    traffic:
      rfc2136: {{server: "127.0.0.1:53", zone: ex.test., name: {name}.ex.test.,
                primary: [192.0.2.1], standby: [192.0.2.2]}}
"""
JOBS = """\
    replication:
      db: {every: 1m, command: {argv: [/bin/true]}}
      files: {every: 5m, command: {argv: [/bin/true]}}
"""
SINKS = """\
notify:
  - webhook: {url: "http://127.0.0.1:9/hook", name: ops}
  - webhook: {url: "http://127.0.0.1:9/other"}
"""


def parse(*services: str, sinks: str = "") -> config.Config:
    """A config of these services (web gets two replication jobs), plus these sinks."""
    body = "".join(SERVICE.format(name=n) + (JOBS if n == "web" else "") for n in services)
    return config.parse("services:\n" + body + sinks, "f.yaml")


PLAN = ("service", "trigger", "result")


def counter(m: Metrics, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """The `name_total` samples of one counter: its `labels`' values -> value."""
    (family,) = [f for f in text_string_to_metric_families(m.render().decode()) if f.name == name]
    return {
        tuple(s.labels[k] for k in labels): s.value
        for s in family.samples
        if s.name == f"{name}_total"
    }


def test_every_counter_is_at_zero_for_each_label_set_the_config_makes_known():
    m = Metrics()
    m.known(parse("web", "api", sinks=SINKS))
    services = ("web", "api")
    assert counter(m, "failoverd_failovers", *PLAN) == {
        (s, t, r): 0
        for s in services
        for t in ("auto", "manual", "drill")
        for r in ("success", "failed")
    }
    assert counter(m, "failoverd_replication_failures", "service", "job") == {
        ("web", "db"): 0,
        ("web", "files"): 0,
    }
    assert counter(m, "failoverd_drills", "service", "kind", "outcome") == {
        (s, k, o): 0
        for s in services
        for k in ("readiness", "full")
        for o in ("passed", "failed", "interrupted", "blocked")
    }
    assert counter(m, "failoverd_notifications", "sink", "result") == {
        (sink, r): 0 for sink in ("ops", "webhook-1") for r in ("sent", "retry", "dropped")
    }


def test_a_reload_adds_the_new_label_sets_at_zero_and_keeps_what_was_counted():
    m = Metrics()
    m.known(parse("web"))
    m.failovers.labels("web", "auto", "success").inc()
    m.known(parse("web", "api", sinks=SINKS))
    failovers = counter(m, "failoverd_failovers", *PLAN)
    assert failovers[("web", "auto", "success")] == 1
    assert failovers[("api", "auto", "success")] == failovers[("api", "manual", "failed")] == 0
    assert counter(m, "failoverd_notifications", "sink", "result")[("ops", "dropped")] == 0


def _literals(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple):
        return _literals(node.elts[0])  # `d.outcome, d.error = "interrupted", why`
    return set()


def _assigned(attr: str) -> set[str]:
    """Every string literal failoverd assigns to an attribute named `attr`."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                first = target.elts[0] if isinstance(target, ast.Tuple) else target
                if isinstance(first, ast.Attribute) and first.attr == attr:
                    found |= _literals(node.value)
    return found


def _label_literals(counter_attr: str, position: int) -> set[str]:
    """String literals failoverd passes as label `position` of `metrics.<counter_attr>.labels`."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "labels"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == counter_attr
                and len(node.args) > position
            ):
                found |= _literals(node.args[position])
    return found


def _returned(path: Path, function: str) -> set[str]:
    """The string literals that `function` in `path` returns."""
    tree = ast.parse(path.read_text())
    (fn,) = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function
    ]
    return {
        s for r in ast.walk(fn) if isinstance(r, ast.Return) and r.value for s in _literals(r.value)
    }


def _kinds_the_api_starts() -> set[str]:
    """The drill kinds POST .../drill accepts (its body's model)."""
    from failoverd.app.bodies import DrillBody

    return set(get_args(DrillBody.model_fields["kind"].annotation))


def test_every_label_value_the_code_counts_is_made_known():
    assert set(PLAN_RESULTS) == set(get_args(PlanResult)) - {"running"}  # counted once closed
    outcomes = _assigned("outcome") | _returned(PACKAGE / "drill" / "runner.py", "_verdict")
    assert outcomes - {"running"} <= set(DRILL_OUTCOMES)
    assert _label_literals("drills", 2) <= set(DRILL_OUTCOMES)
    assert _kinds_the_api_starts() == set(DRILL_KINDS)
    sent = _returned(PACKAGE / "notify" / "outbox.py", "_deliver")
    assert sent | _label_literals("notifications", 1) <= set(NOTIFY_RESULTS)
