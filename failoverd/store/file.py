"""Persisted state: what must survive a crash (active side, state, the half-done plan, history).

Written atomically (temp file, fsync, rename, fsync of the directory), so a crash leaves the old
file or the new one, never half of either. The file carries a schema version; a corrupt file or
one written by a newer failoverd is a clear startup error and is never silently replaced,
because losing it could flip traffic back to a dead primary. An exclusive lock on a sibling
`.lock` file keeps a second daemon from acting on the same state.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from failoverd.store import codec
from failoverd.store.records import ServiceRecord


class StoreError(Exception):
    """The state file cannot be used; the message says why and what to do."""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None

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

    def load(self) -> dict[str, ServiceRecord]:
        """The saved records ({} when there is no file yet)."""
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise StoreError(f"cannot read state file {self.path}: {e.strerror}") from None
        try:
            data = json.loads(raw)
            version = data["schema"]
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"state file {self.path} is corrupt (not failoverd JSON); it was left as it is: "
                "inspect it, then move it away to start from what the traffic switch says"
            ) from None
        if not isinstance(version, int) or version > codec.SCHEMA_VERSION:
            raise StoreError(
                f"state file {self.path} has schema {version!r}, newer than this failoverd "
                f"understands ({codec.SCHEMA_VERSION}): run the newer version or move the file away"
            )
        try:
            return codec.decode(data)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise StoreError(
                f"state file {self.path} is corrupt ({e}); it was left as it is"
            ) from None

    def save(self, records: dict[str, ServiceRecord]) -> None:
        """Write every record atomically and durably."""
        data = codec.encode(records)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
