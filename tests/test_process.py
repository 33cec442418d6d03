"""Running operators' commands: exit codes, output tails, timeouts, environment."""

from __future__ import annotations

import os
import sys

import pytest

from failoverd.clients import process
from failoverd.kit.errors import PermanentError


async def test_exit_0_succeeds_with_the_output_tail():
    result = await process.run(["sh", "-c", "echo one; echo two >&2"], 5)
    assert result.returncode == 0 and result.tail == "one\ntwo\n"


async def test_a_non_zero_exit_fails_with_the_last_line_and_keeps_the_tail():
    with pytest.raises(process.CommandFailed) as e:
        await process.run(["sh", "-c", "echo working; echo 'replica lag too high'; exit 3"], 5)
    assert str(e.value) == "sh exited 3: replica lag too high"
    assert e.value.tail == "working\nreplica lag too high\n"


async def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path):
    marker = tmp_path / "late"
    with pytest.raises(process.CommandFailed, match=r"timed out after 0\.5s"):
        await process.run(["sh", "-c", f"(sleep 2; touch {marker}) & sleep 30"], 0.5)
    # the background child belonged to the killed process group: it never wakes up to write
    with pytest.raises(process.CommandFailed):
        await process.run(["sh", "-c", f"sleep 2.5; test -e {marker}"], 5)


async def test_the_environment_carries_the_plan_and_never_the_api_token(monkeypatch):
    monkeypatch.setenv("FAILOVERD_API_TOKEN", "s3cret")
    result = await process.run(
        [
            sys.executable,
            "-c",
            "import os; print(os.environ.get('FAILOVERD_API_TOKEN'), os.environ['FAILOVERD_SIDE'])",
        ],
        5,
        {"FAILOVERD_SIDE": "standby"},
    )
    assert result.tail.strip() == "None standby"
    assert os.environ["FAILOVERD_API_TOKEN"] == "s3cret"


async def test_a_secret_variable_named_by_the_config_never_reaches_a_command(monkeypatch):
    monkeypatch.setenv("DDNS_TSIG_SECRET", "c2VjcmV0")
    process.hide({"DDNS_TSIG_SECRET"})
    script = "import os; print(os.environ.get('DDNS_TSIG_SECRET'))"
    result = await process.run([sys.executable, "-c", script], 5)
    assert result.tail.strip() == "None"


async def test_a_missing_program_is_permanent():
    with pytest.raises(PermanentError, match="cannot run /nonexistent/promote"):
        await process.run(["/nonexistent/promote"], 5)
