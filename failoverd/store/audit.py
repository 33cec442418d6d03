"""The audit trail: who did what, when, why, and what came of it.

Every operator command (with the name of the token used and the client's address) and every
automatic decision that acts (a plan started, a failover proposed, a block) is one line,
appended to the store (`state.json.audit`, JSON lines on the store's thread; in the arbiter
cluster the `NAME-audit` ConfigMap, bounded by size) and kept in memory for `GET /v1/audit`.
The file is bounded: once it holds more than twice the limit (at start, or as it grows while
the daemon runs) it is cut to its newest `LIMIT` lines.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from failoverd.kit.logs import Logger

LIMIT = 10_000


class Appender(Protocol):
    async def load_audit(self) -> list[str]: ...
    async def append_audit(self, line: str) -> None: ...


class AuditLog:
    def __init__(
        self,
        store: Appender,
        log: Logger,
        wall: Callable[[], float],
        limit: int = LIMIT,
    ) -> None:
        self.store, self.log, self.wall, self.limit = store, log, wall, limit
        self.entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._writes: set[asyncio.Task[None]] = set()

    async def load(self) -> None:
        """Read what earlier runs wrote (a damaged line is skipped, and said so)."""
        lines = await self.store.load_audit()
        for n, line in enumerate(lines[-self.limit :], 1):
            try:
                self.entries.append(json.loads(line))
            except ValueError:
                self.log.warning("audit_line_damaged", line=n)

    def record(
        self, who: str, action: str, service: str, result: str, persist: bool = True, **fields: Any
    ) -> None:
        """Append one entry (never waits; written in order on the store's thread).

        `persist=False` keeps it in memory only (a follower: the state is the leader's to write).
        """
        entry = {
            "time": self.wall(),
            "who": who,
            "action": action,
            "service": service,
            "result": result,
            **{k: v for k, v in fields.items() if v not in (None, "")},
        }
        self.entries.append(entry)
        if not persist:
            return
        task = asyncio.get_running_loop().create_task(self._write(json.dumps(entry, default=str)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, line: str) -> None:
        try:
            await self.store.append_audit(line)
        except OSError as e:
            self.log.error("audit_write_failed", error=str(e), kept="in memory")

    async def flush(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes)

    def newest(self, limit: int) -> list[dict[str, Any]]:
        return list(self.entries)[-limit:][::-1]
