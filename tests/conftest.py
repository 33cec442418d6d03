"""Shared fixtures: a real BIND, switchable backends, a daemon subprocess; no leaked tasks."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from moto import mock_aws

from tests import lab
from tests.lab import DaemonFactory
from tests.lab import aws as lab_aws

SYSTEM_FIXTURES = {"bind", "dns_record"}  # a real BIND: Debian's bind9


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a real BIND is a `system` test (`make unit` leaves those out)."""
    for item in items:
        if SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lab.Bind]:
    server = lab.make_bind(tmp_path_factory.mktemp("bind"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """AWS in-process (moto), with the lab's credentials in the environment."""
    for k, v in lab_aws.CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        yield


@pytest.fixture
def dns_record(bind: lab.Bind) -> lab.Bind:
    """The lab's BIND with the record reset to the primary's address."""
    bind.set_record(lab.PRIMARY_IP)
    return bind


@pytest.fixture
async def sides() -> AsyncIterator[tuple[lab.Backend, lab.Backend]]:
    async with lab.backends(2) as (primary, standby):
        yield primary, standby


@pytest.fixture
def token(tmp_path: Path) -> tuple[str, Path]:
    value = secrets.token_urlsafe(24)
    path = tmp_path / "api.token"
    path.write_text(value + "\n")
    return value, path


@pytest.fixture
async def daemon(
    tmp_path: Path,
    dns_record: lab.Bind,
    sides: tuple[lab.Backend, lab.Backend],
    token: tuple[str, Path],
) -> AsyncIterator[DaemonFactory]:
    factory = DaemonFactory(tmp_path, dns_record, sides, token)
    yield factory
    for d in factory.started:
        await d.kill()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it."""
    before = asyncio.all_tasks()
    yield
    leaked = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    for t in leaked:
        t.cancel()
    assert not leaked, f"test leaked tasks: {leaked}"
