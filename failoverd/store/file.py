"""The bastion's store: one small file per service beside a manifest, written off the event loop.

`state.json` is a manifest (`{"schema": 3, "records": "state.json.d"}`); each service's record
lives in `state.json.d/<service>.json`, so a transition rewrites one small file whatever the
number of services. Every write is atomic and durable (temp file, fsync, rename, fsync of the
directory), so a crash leaves the old file or the new one, never half of either, and the
service's state and its plan journal are always written together. Writes run on the store's
own single thread: in the order they were asked for, never on the event loop, never queued
behind probes' DNS lookups. A corrupt file, or one written by a newer failoverd, is a clear
startup error and is never silently replaced: losing it could flip traffic back to a dead
primary. A state file of schema 1 or 2 (every service in one file) is read and migrated. An
exclusive lock on a sibling `.lock` file keeps a second daemon from acting on the same state.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from failoverd.store import codec
from failoverd.store.base import StoreError
from failoverd.store.records import ServiceRecord


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_newest(path: Path, lines: list[str], limit: int) -> list[str]:
    """Rewrite `path` (atomically) with the newest `limit` of its `lines`; those lines."""
    kept = lines[-limit:]
    _write_atomic(path, ("\n".join(kept) + "\n").encode())
    return kept


class FileStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.dir = path.with_name(path.name + ".d")
        self._lock_fd: int | None = None
        self._writer: ThreadPoolExecutor | None = None
        self.where = str(path)
        self.audit_path = path.with_name(path.name + ".audit")
        self.audit_limit = 10_000  # lines kept when the file has grown past twice as many
        self._audit_lines: int | None = None  # the file's lines; the writer thread's alone

    async def open(self, services: list[str], epoch: int | None = None) -> dict[str, ServiceRecord]:
        """Lock the state file and read it (the bastion has no epochs: the lock is the fence)."""
        self.lock()
        return self.load()

    async def close(self) -> None:
        self.unlock()

    def lock(self) -> None:
        """Take the exclusive lock or raise StoreError naming the holder's file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"{lock_path} is locked: another failoverd is running on this state file"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    # ----------------------------------------------------------------- reading

    def _read_json(self, path: Path) -> Any:
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise StoreError(f"cannot read state file {path}: {e.strerror}") from None
        try:
            data = json.loads(raw)
            version = data["schema"]
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"state file {path} is corrupt (not failoverd JSON); it was left as it is: "
                "inspect it, then move it away to start from what the traffic switch says"
            ) from None
        if not isinstance(version, int) or version > codec.SCHEMA_VERSION:
            raise StoreError(
                f"state file {path} has schema {version!r}, newer than this failoverd "
                f"understands ({codec.SCHEMA_VERSION}): run the newer version or move it away"
            )
        return data

    def load(self) -> dict[str, ServiceRecord]:
        """The saved records ({} when there is no state yet); migrates a whole-file state."""
        records: dict[str, ServiceRecord] = {}
        whole_file = False
        if self.path.exists():
            data = self._read_json(self.path)
            if data["schema"] <= codec.WHOLE_FILE_SCHEMA:
                whole_file = True
                records.update(self._decode(self.path, codec.decode, data))
        if self.dir.is_dir():
            for path in sorted(self.dir.glob("*.json")):
                name, record = self._decode(path, codec.decode_service, self._read_json(path))
                records[name] = record
        if whole_file:
            for name, record in records.items():
                self.write_service(name, codec.encode_service(name, record))
            self._write_manifest()
        return records

    def _decode(self, path: Path, fn: Any, data: Any) -> Any:
        try:
            return fn(data)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise StoreError(f"state file {path} is corrupt ({e}); it was left as it is") from None

    # ----------------------------------------------------------------- writing

    def _write_manifest(self) -> None:
        manifest = {"schema": codec.SCHEMA_VERSION, "records": self.dir.name}
        _write_atomic(self.path, json.dumps(manifest).encode())

    def write_service(self, name: str, doc: dict[str, Any]) -> None:
        """Write one service's document atomically and durably (blocking)."""
        if not self.dir.is_dir():
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            self._write_manifest()
        _write_atomic(self.dir / f"{name}.json", json.dumps(doc, separators=(",", ":")).encode())

    async def save(self, name: str, record: ServiceRecord) -> None:
        """Persist one service's record off the event loop; raises OSError if it could not.

        The record is encoded now, on the loop (a consistent copy), and written on the store's
        own thread, in the order of the calls.
        """
        await self._on_writer(self.write_service, name, codec.encode_service(name, record))

    async def _on_writer(self, fn: Callable[..., None], *args: Any) -> None:
        """Run one write on the store's own single thread: never the loop, always in order."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="failoverd-store")
        await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    # ----------------------------------------------------------------- the notification outbox

    @property
    def outbox_path(self) -> Path:
        return self.path.with_name(self.path.name + ".outbox")

    async def load_outbox(self) -> list[dict[str, Any]]:
        """The events a previous run had not delivered yet ([] when none)."""
        if not self.outbox_path.exists():
            return []
        data = self._read_json(self.outbox_path)
        entries = data.get("events") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise StoreError(f"state file {self.outbox_path} is corrupt (no events list)")
        return entries

    async def save_outbox(self, entries: list[dict[str, Any]]) -> None:
        """Persist the outbox off the event loop (the store's own thread, in call order)."""
        doc = json.dumps({"schema": codec.SCHEMA_VERSION, "events": entries}).encode()
        await self._on_writer(_write_atomic, self.outbox_path, doc)

    # ----------------------------------------------------------------- append-only files

    async def load_audit(self) -> list[str]:
        """The audit lines earlier runs wrote; a file over twice the limit is cut at start."""
        try:
            lines = self.audit_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        if len(lines) > 2 * self.audit_limit:
            lines = _keep_newest(self.audit_path, lines, self.audit_limit)
        return lines

    async def append_audit(self, line: str) -> None:
        """Append one line to the audit file and fsync it, on the store's thread, in order."""
        await self._on_writer(self._append_audit, line)

    def _append_audit(self, line: str) -> None:
        """On the writer thread: append; past twice the limit, keep the newest lines, as at start.

        One rewrite per `audit_limit` appends keeps a daemon that runs for months bounded.
        """
        if self._audit_lines is None:
            try:
                self._audit_lines = len(self.audit_path.read_text().splitlines())
            except FileNotFoundError:
                self._audit_lines = 0
        _append(self.audit_path, line)
        self._audit_lines += 1
        if self._audit_lines > 2 * self.audit_limit:
            lines = self.audit_path.read_text().splitlines()
            self._audit_lines = len(_keep_newest(self.audit_path, lines, self.audit_limit))

    def save_all(self, records: dict[str, ServiceRecord]) -> None:
        """Write every record now (blocking): for tools and tests, not the daemon's loop."""
        for name, record in records.items():
            self.write_service(name, codec.encode_service(name, record))
