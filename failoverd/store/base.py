"""What every state backend offers, so the daemon never knows which one it runs on.

file.py keeps the state in local files (the bastion); kubernetes.py keeps it in ConfigMaps
(the arbiter cluster, several replicas, one leader). Both keep one small document per service,
the notification outbox and the audit trail, and both are tested by one suite
(tests/test_store_backends.py).
"""

from __future__ import annotations

from typing import Any, Protocol

from failoverd.store.records import ServiceRecord


class StoreError(Exception):
    """The state cannot be used at all (corrupt, newer schema, locked): a startup error."""


class StoreUnavailable(OSError):
    """A write did not land (disk full, API server unreachable): kept in memory and retried."""


class Deposed(StoreUnavailable):
    """A newer leader (a higher lease epoch) owns the state: this process must stop acting."""


class StateStore(Protocol):
    where: str  # for logs and errors: the file or the ConfigMaps

    async def open(self, services: list[str], epoch: int | None = None) -> dict[str, ServiceRecord]:
        """Take the state for writing (lock the file, claim the ConfigMaps) and read it."""
        ...

    async def save(self, name: str, record: ServiceRecord) -> None: ...
    async def load_outbox(self) -> list[dict[str, Any]]: ...
    async def save_outbox(self, entries: list[dict[str, Any]]) -> None: ...
    async def load_audit(self) -> list[str]: ...
    async def append_audit(self, line: str) -> None: ...
    async def close(self) -> None: ...
