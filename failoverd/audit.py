"""The audit trail: who did what, when, why, and what came of it.

Every operator command (with the name of the token used and the client's address) and every
automatic decision that acts (a plan started, a failover proposed, a block) is one line,
appended to `state.json.audit` (JSON lines, on the store's thread, never on the event loop)
and kept in memory for `GET /v1/audit`. The file is bounded: at start, a file over twice the
limit is cut to its newest `limit` lines.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from failoverd.logs import Logger

LIMIT = 10_000


class Appender(Protocol):
    async def append_line(self, path: Path, line: str) -> None: ...
    def rewrite_lines(self, path: Path, lines: list[str]) -> None: ...


class AuditLog:
    def __init__(
        self, path: Path, store: Appender, log: Logger, wall: Callable[[], float],
        limit: int = LIMIT,
    ) -> None:  # fmt: skip
        self.path, self.store, self.log, self.wall, self.limit = path, store, log, wall, limit
        self.entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._writes: set[asyncio.Task[None]] = set()

    def load(self) -> None:
        """Read what earlier runs wrote (a damaged line is skipped, and said so)."""
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return
        for n, line in enumerate(lines[-self.limit :], 1):
            try:
                self.entries.append(json.loads(line))
            except ValueError:
                self.log.warning("audit_line_damaged", path=str(self.path), line=n)
        if len(lines) > 2 * self.limit:
            self.store.rewrite_lines(self.path, lines[-self.limit :])

    def record(self, who: str, action: str, service: str, result: str, **fields: Any) -> None:
        """Append one entry (never waits; written in order on the store's thread)."""
        entry = {"time": self.wall(), "who": who, "action": action, "service": service,
                 "result": result, **{k: v for k, v in fields.items() if v not in (None, "")}}  # fmt: skip
        self.entries.append(entry)
        task = asyncio.get_running_loop().create_task(self._write(json.dumps(entry, default=str)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, line: str) -> None:
        try:
            await self.store.append_line(self.path, line)
        except OSError as e:
            self.log.error("audit_write_failed", error=str(e), kept="in memory")

    async def flush(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes)

    def newest(self, limit: int) -> list[dict[str, Any]]:
        return list(self.entries)[-limit:][::-1]
