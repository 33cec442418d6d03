"""The config file: every error names file, line and field; the example stays valid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from failoverd import config
from tests.lab.fakes import GOOD_CONFIG as GOOD


def errors(text: str) -> list[str]:
    with pytest.raises(config.ConfigError) as e:
        config.parse(text, "f.yaml")
    return e.value.errors


def test_a_minimal_file_gets_the_documented_defaults():
    cfg = config.parse(GOOD)
    svc = cfg.services["web"]
    assert (svc.mode, svc.policy.interval, svc.policy.failure_threshold) == ("hot", 2.0, 3)
    assert (svc.policy.quorum, svc.policy.hold_down, cfg.api.listen) == (
        "majority",
        600.0,
        "127.0.0.1:9180",
    )


def test_the_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("FAILOVERD_DDNS_SECRET", "c2VjcmV0")
    cfg = config.load(Path(__file__).parent.parent / "config" / "failoverd.example.yaml")
    assert cfg.services["webapp"].traffic.rfc2136 is not None


TEMPLATE = (
    GOOD.replace("  web:\n", "  web:\n    mode: hot\n") + "    policy: {}\n"
)  # policy on line 14


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "policy: {}",
            "policy: {interval: 2}",
            "f.yaml:14: services.web.policy.interval: durations are strings",
        ),
        (
            "policy: {}",
            "policy: {interval: 2x}",
            "f.yaml:14: services.web.policy.interval: invalid duration",
        ),
        (
            "policy: {}",
            "policy: {failure_threshold: 0}",
            "f.yaml:14: services.web.policy.failure_threshold:",
        ),
        (
            "policy: {}",
            "policy: {quorum: most}",
            "f.yaml:14: services.web.policy.quorum: quorum must be",
        ),
        (
            "policy: {}",
            "policy: {intervall: 2s}",
            "f.yaml:14: services.web.policy.intervall: unknown key",
        ),
        ("mode: hot", "mode: lukewarm", "f.yaml:3: services.web.mode:"),
        ("- tcp:", "- tcpp:", "f.yaml:10: services.web.probes.standby[0].tcpp: unknown key"),
    ],
)
def test_bad_values_name_the_line_and_the_field(old, new, expected):
    got = errors(TEMPLATE.replace(old, new))
    assert any(e.startswith(expected) for e in got), got


def test_two_traffic_kinds_at_once_are_an_error():
    text = (
        GOOD
        + "      route53: {hosted_zone_id: Z1, name: www.ex.test., primary: [192.0.2.1], standby: [192.0.2.2]}\n"
    )
    (err,) = errors(text)
    assert err.startswith("f.yaml:10: services.web.traffic: exactly one traffic kind")


def test_a_missing_secret_file_is_an_error(tmp_path):
    text = GOOD.replace(
        "standby: [192.0.2.2]}",
        f"standby: [192.0.2.2], tsig: {{name: k, secret_file: {tmp_path}/nope}}}}",
    )
    (err,) = errors(text)
    assert (
        "services.web.traffic.rfc2136.tsig.secret_file: secret file" in err
        and "does not exist" in err
    )


def test_secrets_are_read_from_files_and_never_printed(tmp_path):
    secret = tmp_path / "s"
    secret.write_text("c2VjcmV0LXZhbHVl\n")
    text = GOOD.replace(
        "standby: [192.0.2.2]}", f"standby: [192.0.2.2], tsig: {{name: k, secret_file: {secret}}}}}"
    )
    cfg = config.parse(text)
    tsig = cfg.services["web"].traffic.rfc2136.tsig
    assert tsig.secret.get_secret_value() == "c2VjcmV0LXZhbHVl"
    assert "c2VjcmV0LXZhbHVl" not in repr(cfg) and "c2VjcmV0LXZhbHVl" not in str(cfg.model_dump())


def test_warm_mode_needs_a_cluster_probe_on_the_standby():
    (err,) = errors(GOOD.replace("    primary: a\n", "    mode: warm\n    primary: a\n"))
    assert err.startswith(
        "f.yaml:2: services.web: mode warm expects the idle side's app to be down"
    )


def test_duplicate_keys_and_undefined_clusters_are_errors():
    assert errors(GOOD + "    primary: c\n") == ["f.yaml:13: services.web.primary: duplicate key"]
    text = GOOD.replace(
        "      standby:\n",
        "      standby:\n        - kubernetes: {cluster: nowhere, deployment: web}\n",
    )
    (err,) = errors(text)
    assert "cluster(s) nowhere used but not defined" in err


def test_leader_election_timeouts_must_be_ordered():
    text = (
        GOOD
        + "clusters: {arb: {in_cluster: true}}\nleader_election: {cluster: arb, lease_duration: 5s, renew_deadline: 10s}\n"
    )
    (err,) = errors(text)
    assert "leader_election: need retry_period < renew_deadline < lease_duration" in err


def test_leader_election_and_state_in_the_cluster_come_together_or_not_at_all():
    arb = "clusters: {arb: {in_cluster: true}}\n"
    (err,) = errors(GOOD + arb + "leader_election: {cluster: arb}\n")
    assert "leader_election" in err and "state: {kubernetes" in err
    assert "cannot share a local state file" in err
    doc = GOOD + "state: {kubernetes: {cluster: arb}}\n"
    (err,) = errors(doc + arb)
    assert "state.kubernetes needs leader_election" in err
    cfg = config.parse(doc + arb + "leader_election: {cluster: arb, lease_duration: 20s}\n")
    assert (
        cfg.state.kubernetes.name == "failoverd-state" and cfg.leader_election.lease_duration == 20
    )
    (err,) = errors(doc + arb + "leader_election: {cluster: arb, renew_deadline: 30s}\n")
    assert "retry_period < renew_deadline < lease_duration" in err
    (err,) = errors(
        doc.replace("{cluster: arb}", "{cluster: nowhere}")
        + arb
        + "leader_election: {cluster: arb}\n"
    )
    assert "nowhere" in err and "not defined under clusters" in err
    errs = errors(
        GOOD
        + arb
        + "state: {path: /x, kubernetes: {cluster: arb}}\n"
        + "leader_election: {cluster: arb}\n"
    )
    assert any("f.yaml:" in e and "exactly one of path" in e for e in errs)
    assert "nowhere" in err and "not defined under clusters" in err


def test_notify_sinks_take_their_secrets_from_files_or_the_environment(tmp_path, monkeypatch):
    url = tmp_path / "slack-url"
    url.write_text("https://hooks.slack.example/services/T0/B0/secret\n")
    monkeypatch.setenv("PD_KEY", "0123456789abcdef0123456789abcdef")
    cfg = config.parse(
        GOOD
        + f"""notify:
  - webhook: {{url: "http://127.0.0.1:9/hook", events: [failover_finished, blocked]}}
  - slack: {{url_file: {url}}}
  - pagerduty: {{routing_key_env: PD_KEY, url: "http://127.0.0.1:9/v2/enqueue"}}
"""
    )
    assert config.sink_labels(cfg.notify) == ["webhook", "slack", "pagerduty"]
    assert cfg.notify[1].slack.secret_url.get_secret_value().endswith("/secret")
    assert "secret" not in repr(cfg.notify) and "0123456789" not in repr(cfg.notify)
    assert "PD_KEY" in cfg.secret_env_names()


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        ("webhook: {url: ftp://x}", "url must start with http:// or https://"),
        ("webhook: {url: 'http://x', events: [failover_exploded]}", "notify[0].webhook.events[0]"),
        ("slack: {url: 'https://x'}", "notify[0].slack.url: unknown key"),
        ("pagerduty: {}", "exactly one routing key source"),
    ],
)
def test_bad_sinks_are_refused_with_their_line(sink, expected):
    (err,) = errors(GOOD + f"notify:\n  - {sink}\n")
    assert err.startswith("f.yaml:14:") and expected in err, err


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "failoverd", *args], capture_output=True, text=True, timeout=60
    )


def test_validate_exits_2_and_prints_every_error_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace(
            "    probes:\n", "    policy: {interval: 0s, recovery_threshold: 0}\n    probes:\n"
        )
    )
    r = run_cli("validate", "-c", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert f"{bad}:5: services.web.policy.interval: must be greater than 0" in lines
    assert any(ln.startswith(f"{bad}:5: services.web.policy.recovery_threshold:") for ln in lines)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert run_cli("validate", "-c", str(good)).returncode == 0


def test_a_yaml_syntax_error_and_a_missing_file_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  web: [\n")
    r = run_cli("validate", "-c", str(bad))
    assert r.returncode == 2 and r.stderr.startswith(f"{bad}:3:")
    assert run_cli("validate", "-c", str(tmp_path / "absent.yaml")).returncode == 2


def test_schema_prints_the_json_schema():
    r = run_cli("schema")
    schema = json.loads(r.stdout)
    assert r.returncode == 0 and "services" in schema["properties"]
    assert schema["$defs"]["Policy"]["properties"]["interval"]["type"] == "string"


def test_a_probe_timeout_longer_than_the_interval_is_an_error():
    (err,) = errors(TEMPLATE.replace("policy: {}", "policy: {interval: 500ms}"))
    assert err.startswith(
        "f.yaml:2: services.web: probes.primary[0].http.timeout 1s is longer than policy.interval 0.5s"
    )


def test_an_observe_only_service_needs_no_traffic_and_may_not_act():
    witness = GOOD.split("    traffic:")[0]
    cfg = config.parse("observe_only: true\n" + witness)
    assert cfg.services["web"].observe_only and cfg.services["web"].traffic is None
    (err,) = errors(witness)
    assert "services.web: traffic is required (only an observe_only service goes without)" in err
    (err,) = errors("observe_only: true\n" + GOOD)
    assert "an observe_only service never acts: remove traffic" in err


def test_a_witness_probe_names_another_failoverd():
    text = GOOD.replace(
        "        - tcp: {host: 127.0.0.1, port: 2}",
        "        - tcp: {host: 127.0.0.1, port: 2}\n        - witness: {api: 'http://127.0.0.2:9180/', name: bastion}",
    )
    probe = config.parse(text).services["web"].probes.standby[1]
    assert probe.kind == "witness" and probe.witness.api == "http://127.0.0.2:9180"
    assert probe.spec.role == "cluster" and config.probe_labels([probe]) == ["bastion"]
