"""A real PostgreSQL pair on loopback: a writer from `initdb -k` (checksums, so pg_rewind works)
and a streaming standby from `pg_basebackup -R`, each on its own port and data directory, run
as the `postgres` user (PostgreSQL refuses root). Debian's postgresql package (`make bind9`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.lab import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> bool:
    return (BIN / "pg_ctl").exists()


def _as_postgres(*argv: str) -> subprocess.CompletedProcess[str]:
    user = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    return subprocess.run([*user, *argv], check=True, capture_output=True, text=True, timeout=120)


@dataclass
class Server:
    """One PostgreSQL server: its data directory and loopback port."""

    data: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres"

    def start(self) -> None:
        log = str(self.data / "server.log")
        _as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-l", log, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def sql(self, query: str) -> str:
        psql = [str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        return _as_postgres(*psql, "-d", "postgres", "-XAtc", query).stdout.strip()


@contextlib.contextmanager
def pair() -> Iterator[tuple[Server, Server]]:
    """A writer and its streaming standby, stopped (immediately) and removed afterwards.

    Their directories are outside pytest's (whose parents only root may enter)."""
    root = Path(tempfile.mkdtemp(prefix="failoverd-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    try:
        with _pair(root) as servers:
            yield servers
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _pair(root: Path) -> Iterator[tuple[Server, Server]]:
    writer = Server(root / "writer", free_port())
    standby = Server(root / "standby", free_port())
    _as_postgres(str(BIN / "initdb"), "-k", "-A", "trust", "-U", "postgres", "-D", str(writer.data))
    with open(writer.data / "postgresql.conf", "a") as conf:
        conf.write(
            f"port = {writer.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "wal_level = replica\nmax_wal_senders = 5\nwal_keep_size = 64MB\nfsync = off\n"
            "wal_receiver_timeout = 5s\nwal_sender_timeout = 5s\n"
        )
    with open(writer.data / "pg_hba.conf", "a") as hba:
        hba.write("host replication postgres 127.0.0.1/32 trust\n")
    writer.start()
    try:
        source = ["-h", "127.0.0.1", "-p", str(writer.port), "-U", "postgres"]
        _as_postgres(
            str(BIN / "pg_basebackup"), *source, "-D", str(standby.data), "-R", "-X", "stream"
        )
        with open(standby.data / "postgresql.conf", "a") as conf:
            conf.write(f"port = {standby.port}\nhot_standby = on\n")
        standby.start()
        try:
            yield writer, standby
        finally:
            standby.stop("immediate")
    finally:
        writer.stop("immediate")
