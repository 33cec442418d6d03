"""Inputs `failoverd validate` must refuse with FILE:LINE, never a traceback or a hang."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failoverd import config
from tests.lab.fakes import GOOD_CONFIG as BASE

# the minimal file of test_config.py, with a policy line before traffic (line 10)
GOOD = BASE.replace("    traffic:\n", "    policy: {interval: 1s}\n    traffic:\n")

BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def refused(text: str | bytes, tmp_path) -> list[str]:
    path = tmp_path / "f.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    for line in e.value.errors:
        assert line.startswith(f"{path}:"), line
        assert line.split(":")[1].isdigit(), f"no line number: {line}"
    return e.value.errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOMB, "once aliases are expanded"),
        ("a: &a [1, *a]\n", "services: Field required"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nesting too deep"),
        ("services: !!python/object/apply:os.system [true]\n", "unsupported YAML tag"),
        ("services:\n  web: !custom {}\n", "unsupported YAML tag"),
        ("? [a, b]\n: 1\n", "keys must be strings"),
        ("1: x\nservices: {}\n", "keys must be strings, not '1'"),
        ("x: " + "9" * 5000 + "\n", "a number of 5000 digits"),
        (
            GOOD.replace("interval: 1s", "interval: 1s, failure_threshold: true"),
            "services.web.policy.failure_threshold: Input should be a valid integer",
        ),
        (
            GOOD.replace("interval: 1s", "interval: 1s, auto_failback: 'yes'"),
            "services.web.policy.auto_failback: Input should be a valid boolean",
        ),
        (
            GOOD.replace("interval: 1s", "interval: 0s"),
            "services.web.policy.interval: Value error, must be greater than 0",
        ),
    ],
)
def test_hostile_yaml_is_refused_with_file_and_line(tmp_path, text, expected):
    errors = refused(text, tmp_path)
    assert any(expected.replace("Value error, ", "") in e for e in errors), errors


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    (err,) = refused(GOOD.encode() + b"# caf\xe9\n", tmp_path)
    assert ":14: the file is not UTF-8" in err


def test_the_alias_bomb_costs_little_time_and_memory(tmp_path):
    tracemalloc.start()
    t0 = time.monotonic()
    refused(BOMB, tmp_path)
    elapsed = time.monotonic() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 5 and peak < 64 << 20, (elapsed, peak)


REPLICATION = (
    GOOD
    + """\
    replication:
      db: {every: EVERY, command: {argv: [true], timeout: TIMEOUT}}
"""
)


@pytest.mark.parametrize(
    ("every", "timeout", "expected"),
    [
        ("0s", "1s", "replication.db.every: must be greater than 0"),
        ("1m", "0s", "replication.db.command.timeout: must be greater than 0"),
    ],
)
def test_zero_durations_that_would_divide_by_zero_or_mean_forever_are_refused(
    tmp_path, every, timeout, expected
):
    errors = refused(REPLICATION.replace("EVERY", every).replace("TIMEOUT", timeout), tmp_path)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("9" * 400 + "s", "inf"), ("1" + "0" * 306 + "ms", "1e+303"), ("366d", "31622400")],
)
def test_a_duration_that_is_infinite_or_longer_than_a_year_is_refused(tmp_path, value, seconds):
    errors = refused(GOOD.replace("interval: 1s", f"interval: {value}"), tmp_path)
    assert any(
        "services.web.policy.interval: invalid duration" in e
        and f"{seconds} seconds" in e
        and "at most 365d" in e
        for e in errors
    ), errors


def test_a_ttl_beyond_what_dns_carries_is_refused(tmp_path):
    text = GOOD.replace("primary: [192.0.2.1]", "ttl: 2147483648, primary: [192.0.2.1]")
    errors = refused(text, tmp_path)
    assert any(
        "traffic.rfc2136.ttl: Input should be less than or equal to 2147483647" in e for e in errors
    ), errors


def test_a_tsig_secret_that_is_not_base64_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("BAD_TSIG", "not base64 at all!")
    text = GOOD.replace(
        "standby: [192.0.2.2]}", "standby: [192.0.2.2], tsig: {name: k, secret_env: BAD_TSIG}}"
    )
    errors = refused(text, tmp_path)
    assert any("tsig" in e and "not valid base64" in e for e in errors), errors


def test_two_services_on_one_record_are_refused(tmp_path):
    body = GOOD.split("services:\n", 1)[1]
    text = "services:\n" + body + body.replace("  web:", "  web2:")
    errors = refused(text, tmp_path)
    assert any(
        "services web and web2 both control rfc2136 127.0.0.1:53 www.ex.test A" in e for e in errors
    ), errors


@pytest.mark.parametrize(
    ("a", "b"),
    [("webapp/", "webapp/"), ("web/", "web/app/"), ("", None)],
)
def test_snapshot_folders_must_be_own_folders(tmp_path, a, b):
    job = "{{every: 5m, s3_snapshot: {{cluster: a, namespaces: [default], bucket: snaps, prefix: '{}'}}}}"
    text = (
        "clusters: {a: {in_cluster: true}}\n"
        + GOOD
        + "    replication:\n      one: "
        + job.format(a)
        + "\n"
    )
    if b is not None:
        text += "      two: " + job.format(b) + "\n"
    errors = refused(text, tmp_path)
    want = "prefix must be a non-empty folder" if b is None else "share s3://snaps/ folders"
    assert any(want in e for e in errors), errors


def validate(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "failoverd", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_validate_builds_the_switch_so_a_bad_dns_label_is_caught_before_run(tmp_path):
    path = tmp_path / "f.yaml"
    label = "x" * 64  # DNS labels are at most 63 octets
    path.write_text(GOOD.replace("name: www.ex.test.", f"name: {label}.ex.test."))
    out = validate(path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{path}:12: services.web.traffic.rfc2136: LabelTooLong" in out.stderr, out.stderr


def test_validate_refuses_a_ca_file_that_is_not_a_certificate(tmp_path):
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate\n")
    path = tmp_path / "f.yaml"
    path.write_text(
        GOOD.replace(
            'url: "http://127.0.0.1:1/healthz"',
            f'url: "https://127.0.0.1:1/healthz", ca_file: {bad_ca}',
        )
    )
    out = validate(path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{path}:7: services.web.probes.primary[0].http:" in out.stderr, out.stderr


def test_a_missing_ca_file_is_a_config_error(tmp_path):
    text = GOOD.replace(
        'url: "http://127.0.0.1:1/healthz"',
        'url: "https://127.0.0.1:1/healthz", ca_file: /nonexistent/ca.pem',
    )
    errors = refused(text, tmp_path)
    assert any(
        "ca_file: Value error, file '/nonexistent/ca.pem' does not exist" in e
        or "ca_file: file '/nonexistent/ca.pem' does not exist" in e
        for e in errors
    ), errors


# ------------------------------------------------------------------ generated YAML, any shape

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
trees = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=10), kids, max_size=5)
    ),
    max_leaves=40,
)
SECTIONS = ["services", "api", "state", "log", "clusters", "web", "probes", "policy", "traffic"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        trees,
        st.dictionaries(st.sampled_from(SECTIONS), trees, max_size=4),
        st.builds(
            lambda tree: {"services": {"web": tree}},
            st.dictionaries(st.sampled_from([*SECTIONS, "primary", "mode"]), trees, max_size=5),
        ),
    )
)
def test_generated_yaml_either_loads_or_gives_file_and_line_errors(data):
    text = yaml.safe_dump(data)
    try:
        config.parse(text, "gen.yaml")
    except config.ConfigError as e:
        assert e.errors and all(line.startswith("gen.yaml:") for line in e.errors)
        assert all(line.split(":")[1].isdigit() for line in e.errors)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_either_loads_or_gives_file_and_line_errors(text):
    try:
        config.parse(text, "gen.yaml")
    except config.ConfigError as e:
        assert e.errors and all(line.startswith("gen.yaml:") for line in e.errors)
