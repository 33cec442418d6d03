"""What operators look through: alert rules (promtool), the Grafana dashboard, the systemd unit."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from failoverd import config

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "config" / "prometheus" / "failoverd-rules.yaml"
RULE_TESTS = ROOT / "config" / "prometheus" / "failoverd-rules.test.yaml"
DASHBOARD = ROOT / "config" / "grafana" / "failoverd.json"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (make test installs it)")
    return path


def alerts() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


@pytest.mark.system
def test_the_alert_rules_pass_promtool_and_their_unit_tests():
    promtool = tool("promtool")
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in check.stdout
    test = subprocess.run(
        [promtool, "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        cwd=RULE_TESTS.parent,
    )
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_alert_is_unit_tested_named_like_a_mixin_and_has_a_runbook_in_the_docs():
    tested = {
        t["alertname"]
        for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    for rule in alerts():
        name = rule["alert"]
        assert re.fullmatch(r"Failoverd[A-Z][A-Za-z]+", name), name
        assert name in tested, f"{name} has no promtool test that fires it"
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"]
        anchor = notes["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower() and f"\n## {name}\n" in runbooks, f"no runbook for {name}"


def test_the_dashboard_is_valid_with_unique_panel_ids_and_a_service_variable():
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert "service" in [v["name"] for v in dash["templating"]["list"]]
    for p in dash["panels"]:
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]


def dashboard_metrics() -> set[str]:
    dash = json.loads(DASHBOARD.read_text())
    names = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            names |= set(re.findall(r"\bfailoverd_[a-z_]+", t["expr"]))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


@pytest.mark.e2e
@pytest.mark.system
async def test_a_running_daemons_metrics_pass_promtool_and_hold_every_dashboard_metric(
    daemon, sides, http
):
    promtool = tool("promtool")
    primary, _ = sides
    d = await daemon.start(interval="500ms")
    await d.wait_for("side_ready", side="standby")
    await primary.down()
    await d.wait_for("plan_done")
    async with http.get(f"{d.api}/metrics") as r:
        text = await r.text()
    proc = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(text.encode())
    assert proc.returncode == 0, out.decode()
    exposed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    missing = sorted(m for m in dashboard_metrics() if m not in exposed)
    assert not missing, f"the dashboard queries metrics the daemon does not expose: {missing}"
    rule_metrics = {m for r in alerts() for m in re.findall(r"\bfailoverd_[a-z_]+", r["expr"])}
    assert not sorted(m for m in rule_metrics if m not in exposed)


@pytest.mark.system
@pytest.mark.parametrize("unit", ["failoverd.service", "failoverd-drill.service"])
def test_the_systemd_unit_is_hardened(unit):
    analyze = tool("systemd-analyze")
    out = subprocess.run(
        [analyze, "security", "--offline=true", str(ROOT / "systemd" / unit)],
        capture_output=True,
        text=True,
    )
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    assert float(m.group(1)) <= 2.0, out.stdout


def test_the_drill_timer_is_weekly_randomized_and_persistent():
    timer = (ROOT / "systemd" / "failoverd-drill.timer").read_text()
    for line in ("OnCalendar=weekly", "RandomizedDelaySec=1h", "Persistent=true"):
        assert f"\n{line}\n" in timer


@pytest.mark.parametrize(
    "manifest", sorted((ROOT / "config" / "kubernetes").glob("*.yaml")), ids=lambda p: p.name
)
def test_kubernetes_manifests_pass_kubernetes_validate_strict(manifest):
    validate = shutil.which("kubernetes-validate") or str(
        ROOT / ".venv" / "bin" / "kubernetes-validate"
    )
    out = subprocess.run([validate, "--strict", str(manifest)], capture_output=True, text=True)
    assert out.returncode == 0 and "passed" in out.stdout, out.stdout + out.stderr


def test_the_arbiter_manifests_config_is_valid_and_its_role_covers_any_state_configmap(tmp_path):
    docs = {
        d["kind"]: d
        for f in (ROOT / "config" / "kubernetes").glob("*.yaml")
        for d in yaml.safe_load_all(f.read_text())
        if d
    }
    for secret in ("token/token", "tsig/secret"):  # the Secrets the Deployment mounts
        (tmp_path / secret).parent.mkdir()
        (tmp_path / secret).write_text("c2VjcmV0LXNlY3JldC1zZWNyZXQ=\n")
    text = docs["ConfigMap"]["data"]["failoverd.yaml"].replace("/etc/failoverd/", f"{tmp_path}/")
    cfg = config.parse(text, "20-config.yaml")
    assert cfg.leader_election is not None and cfg.state.kubernetes is not None
    # the state's ConfigMaps, whatever the services: every one in failoverd's own namespace,
    # none named (adding a service needs no edit of the Role)
    assert docs["Role"]["metadata"]["namespace"] == cfg.state.kubernetes.namespace
    rules = docs["Role"]["rules"]
    (configmaps,) = [r for r in rules if r["resources"] == ["configmaps"]]
    assert "resourceNames" not in configmaps
    assert set(configmaps["verbs"]) == {"get", "create", "update"}
    lease = next(r for r in rules if r["resources"] == ["leases"] and "resourceNames" in r)
    assert lease["resourceNames"] == [cfg.leader_election.name]
    assert {"get", "watch", "update"} <= set(lease["verbs"])
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert docs["Deployment"]["spec"]["replicas"] == 2
    assert docs["PodDisruptionBudget"]["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
