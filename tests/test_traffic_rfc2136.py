"""The RFC 2136 switch against a real BIND: TSIG-signed, idempotent, read back."""

from __future__ import annotations

import pytest

from failoverd import config
from failoverd.kit.errors import PermanentError, TransientError
from failoverd.traffic import build, side_of
from tests import lab


def switch_for(bind: lab.Bind, secret_file: str | None = None, **extra):
    spec = {
        "rfc2136": {
            "server": bind.server,
            "zone": lab.ZONE,
            "name": lab.RECORD,
            "ttl": 5,
            "primary": [lab.PRIMARY_IP],
            "standby": [lab.STANDBY_IP],
            "tsig": {"name": lab.KEY_NAME, "secret_file": secret_file or str(bind.key_file)},
            **extra,
        }
    }
    return build(config.TrafficSpec.model_validate(spec))


async def test_switch_moves_the_record_and_verify_reads_it_back(dns_record):
    sw = switch_for(dns_record)
    assert await sw.current() == "primary"
    await sw.switch("standby")
    await sw.switch("standby")  # idempotent
    assert dns_record.answer() == [lab.STANDBY_IP]
    assert await sw.current() == "standby"
    await sw.verify("standby")
    with pytest.raises(TransientError, match="not the primary"):
        await sw.verify("primary")


async def test_a_record_matching_neither_side_is_no_side(dns_record):
    dns_record.set_record("203.0.113.7")
    assert await switch_for(dns_record).current() is None


async def test_a_raw_base64_secret_file_works_too(dns_record, tmp_path):
    raw = tmp_path / "raw.secret"
    raw.write_text(dns_record.secret + "\n")
    await switch_for(dns_record, str(raw)).switch("standby")
    assert dns_record.answer() == [lab.STANDBY_IP]


async def test_a_wrong_key_is_permanent_and_changes_nothing(dns_record, tmp_path):
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("QUJD" * 11)
    with pytest.raises(PermanentError) as e:
        await switch_for(dns_record, str(wrong)).switch("standby")
    assert "TSIG" in str(e.value) or "NOTAUTH" in str(e.value)
    assert dns_record.answer() == [lab.PRIMARY_IP]


async def test_an_unreachable_server_is_transient(dns_record):
    dead = lab.Bind(dns_record.directory, lab.free_port(), dns_record.secret)
    with pytest.raises(TransientError):
        await switch_for(dead, str(dns_record.key_file), timeout="300ms").switch("standby")


def test_side_of_ignores_order_case_and_trailing_dots():
    assert side_of(["B.example.", "a.example"], ["a.example.", "b.example."], ["c."]) == "primary"
    assert side_of([], ["a"], ["b"]) is None
