"""The local lab: a real BIND, switchable HTTP backends and `failoverd run` as a process.

Everything listens on 127.0.0.1 only. Tests and benchmarks share these pieces, so what the
tests prove and what the benchmarks measure run against the same parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import itertools
import json
import os
import random
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import dns.message
import dns.query
import dns.rdatatype
import dns.tsig
import dns.update
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

LOOPBACK = "127.0.0.1"
ZONE = "example.test."
RECORD = "www.example.test."
PRIMARY_IP, STANDBY_IP = "192.0.2.10", "198.51.100.10"
KEY_NAME = "ddns-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- BIND


@dataclass
class Bind:
    """A real `named` serving ZONE on 127.0.0.1:port, updatable with the TSIG key."""

    directory: Path
    port: int
    secret: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def server(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def key_file(self) -> Path:
        return self.directory / "ddns.key"

    def answer(self, name: str = RECORD, rdtype: str = "A") -> list[str]:
        """What BIND answers now for the record (sorted values)."""
        q = dns.message.make_query(name, rdtype)
        resp = dns.query.udp(q, LOOPBACK, port=self.port, timeout=2)
        want = dns.rdatatype.from_text(rdtype)
        return sorted(rd.to_text() for rr in resp.answer if rr.rdtype == want for rd in rr)

    def set_record(self, *values: str, name: str = RECORD, ttl: int = 5) -> None:
        upd = dns.update.UpdateMessage(
            ZONE, keyring=dns.tsig.Key(KEY_NAME, self.secret, "hmac-sha256")
        )
        upd.replace(name, ttl, "A", *values)
        resp = dns.query.tcp(upd, LOOPBACK, port=self.port, timeout=2)
        assert resp.rcode() == 0, resp

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def start(self, timeout: float = 60.0) -> None:
        """Start named and return once it logs that it is running."""
        named = shutil.which("named") or "/usr/sbin/named"
        self.proc = subprocess.Popen(
            [named, "-g", "-n", "1", "-4", "-c", str(self.directory / "named.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            bufsize=0,  # unbuffered: select() must see every line readline() has not consumed
        )
        assert self.proc.stderr is not None
        deadline, seen = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.5)
            if ready:
                line = self.proc.stderr.readline().decode(errors="replace")
                seen.append(line)
                if line.rstrip().endswith(" running"):  # not the "running on Linux" banner
                    threading_drain(self.proc.stderr)
                    return
                if not line and self.proc.poll() is not None:
                    break
        self.stop()
        raise RuntimeError("named did not start:\n" + "".join(seen[-30:]))


def threading_drain(stream: Any) -> None:
    """Keep reading a child's pipe so it never blocks on a full buffer."""
    import threading

    threading.Thread(target=lambda: [None for _ in iter(stream.readline, b"")], daemon=True).start()


def make_bind(directory: Path) -> Bind:
    directory.mkdir(parents=True, exist_ok=True)
    keyconf = subprocess.run(
        ["tsig-keygen", "-a", "hmac-sha256", KEY_NAME], check=True, capture_output=True, text=True
    ).stdout
    secret = keyconf.split('secret "')[1].split('"')[0]
    (directory / "ddns.key").write_text(keyconf)
    (directory / "ddns.key").chmod(0o600)
    (directory / "example.test.zone").write_text(
        f"$TTL 5\n@ IN SOA ns.{ZONE} hostmaster.{ZONE} 1 60 60 3600 5\n"
        f"@ IN NS ns.{ZONE}\nns IN A 127.0.0.1\nwww IN A {PRIMARY_IP}\n"
    )
    port = free_port()
    (directory / "named.conf").write_text(
        f"""
options {{
    directory "{directory}";
    pid-file "{directory}/named.pid";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-transfer {{ none; }};
}};
controls {{ }};
include "{directory}/ddns.key";
zone "{ZONE.rstrip(".")}" {{
    type primary;
    file "{directory}/example.test.zone";
    allow-update {{ key "{KEY_NAME}"; }};
}};
"""
    )
    return Bind(directory, port, secret)


# --------------------------------------------------------------------------- a caching resolver


@contextlib.contextmanager
def unbound(directory: Path, bind: Bind, min_ttl: int = 0) -> Iterator[str]:
    """Debian's unbound on 127.0.0.1 (a free port) resolving the lab's zone through its BIND,
    caching answers for their TTL (at least `min_ttl`, as resolvers that clamp TTLs do).
    Yields its "host:port"."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / "unbound.conf"
    conf.write_text(f"""server:
  interface: {LOOPBACK}
  port: {port}
  do-daemonize: no
  use-syslog: no
  logfile: ""
  username: ""
  chroot: ""
  directory: "{directory}"
  pidfile: "{directory}/unbound.pid"
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  do-not-query-localhost: no
  cache-min-ttl: {min_ttl}
  verbosity: 0
  local-zone: "test." nodefault
stub-zone:
  name: "{ZONE.rstrip(".")}"
  stub-addr: {LOOPBACK}@{bind.port}
remote-control:
  control-enable: no
""")
    log = directory / "unbound.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [shutil.which("unbound") or "/usr/sbin/unbound", "-d", "-c", str(conf)],
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 10
        while True:  # ready when it answers
            try:
                q = dns.message.make_query(RECORD, "A")
                dns.query.udp(q, LOOPBACK, port=port, timeout=0.2)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"unbound did not start: {log.read_text()}") from None
        yield f"{LOOPBACK}:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def resolve_through(resolver: str) -> list[str]:
    """Ask a resolver for the lab's record (it caches the answer for its TTL)."""
    host, port = resolver.rsplit(":", 1)
    answer = dns.query.udp(dns.message.make_query(RECORD, "A"), host, port=int(port), timeout=2)
    return sorted(rd.to_text() for rrset in answer.answer for rd in rrset)


# --------------------------------------------------------------------------- HTTP backends


@dataclass
class Backend:
    """An HTTP health endpoint on 127.0.0.1 whose answer a test switches.

    modes: "up" (200), "503", "down" (socket closed: connection refused), "slow" (answers
    after `delay`), or a pattern: an iterator of booleans consumed one per request; on top of
    any answering mode, `rate` (random 503s) and `jitter` (random extra latency).
    """

    port: int = field(default_factory=free_port)
    mode: str = "up"
    delay: float = 0.0
    pattern: Iterator[bool] | None = None
    requests: int = 0
    _runner: web.AppRunner | None = None
    # more loopback addresses it also listens on (a second vantage point probes those), and
    # the addresses cut off from it (connections refused there only: a partition)
    also: tuple[str, ...] = ()
    partitioned: set[str] = field(default_factory=set)
    _sites: dict[str, web.TCPSite] = field(default_factory=dict)

    tls: ssl.SSLContext | None = None  # serve HTTPS with this (see self_signed())

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}/healthz"

    def url_on(self, address: str) -> str:
        return f"http://{address}:{self.port}/healthz"

    async def partition(self, address: str) -> None:
        """Refuse connections on `address` only (the others keep answering)."""
        self.partitioned.add(address)
        site = self._sites.pop(address, None)
        if site is not None:
            await site.stop()
        server = self._runner.server if self._runner is not None else None
        for handler in list(server.connections if server is not None else []):
            transport = handler.transport
            if transport is not None and transport.get_extra_info("sockname")[0] == address:
                transport.abort()  # kept-alive connections through the cut break too

    async def heal(self, address: str) -> None:
        self.partitioned.discard(address)
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        for address in (LOOPBACK, *self.also):
            if address in self.partitioned or address in self._sites:
                continue
            site = web.TCPSite(
                self._runner, address, self.port, reuse_address=True, ssl_context=self.tls
            )
            await site.start()
            self._sites[address] = site

    _waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    async def wait_requests(self, n: int) -> None:
        """Return once the backend has answered `n` requests in all."""
        if self.requests < n:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append((n, fut))
            await fut

    rate: float = 0.0  # chance that a request fails (503), in every mode that answers
    jitter: float = 0.0  # extra latency, uniform in [0, jitter] seconds
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    async def _health(self, _: web.Request) -> web.Response:
        self.requests += 1
        if self.jitter:
            await asyncio.sleep(self.rng.uniform(0, self.jitter))
        if self.rate and self.rng.random() < self.rate:
            return web.Response(status=503, text="random failure")
        for n, fut in [w for w in self._waiters if w[0] <= self.requests]:
            self._waiters.remove((n, fut))
            if not fut.done():
                fut.set_result(None)
        if self.pattern is not None:
            return web.Response(status=200 if next(self.pattern) else 503)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        return web.Response(status=503 if self.mode == "503" else 200, text=self.mode)

    async def start(self) -> None:
        await self.up()

    async def up(self) -> None:
        self.mode, self.pattern = "up", None
        if self._runner is None:
            app = web.Application()
            app.router.add_get("/healthz", self._health)
            self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await self._runner.setup()
            await self._listen()

    async def down(self) -> None:
        """Hard down: every connection closed and the port refusing new ones."""
        self.mode = "down"
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._sites.clear()

    def flap(self, pattern: list[bool]) -> None:
        self.pattern = itertools.cycle(pattern)

    async def close(self) -> None:
        await self.down()


# --------------------------------------------------------------------------- the daemon


def hot_config(
    bind: Bind,
    primary: Backend,
    standby: Backend,
    state_dir: Path,
    api_port: int,
    token_file: Path,
    *,
    interval: str = "500ms",
    failure_threshold: int = 3,
    recovery_threshold: int = 2,
    service: str = "webapp",
    **policy: Any,
) -> dict[str, Any]:
    """A one-service hot-mode config: one HTTP probe per side, RFC 2136 to the lab's BIND."""
    return {
        "api": {"listen": f"{LOOPBACK}:{api_port}", "token_file": str(token_file)},
        "state": {"path": str(state_dir / "state.json")},
        "log": {"format": "json", "level": "info"},
        "services": {
            service: {
                "mode": "hot",
                "primary": "beijing",
                "standby": "shanghai",
                "probes": {
                    "primary": [{"http": {"url": primary.url, "timeout": "300ms"}}],
                    "standby": [{"http": {"url": standby.url, "timeout": "300ms"}}],
                },
                "policy": {
                    "interval": interval,
                    "failure_threshold": failure_threshold,
                    "recovery_threshold": recovery_threshold,
                    "quorum": "any",
                    **policy,
                },
                "traffic": {
                    "rfc2136": {
                        "server": bind.server,
                        "zone": ZONE,
                        "name": RECORD,
                        "type": "A",
                        "ttl": 5,
                        "primary": [PRIMARY_IP],
                        "standby": [STANDBY_IP],
                        "tsig": {
                            "name": KEY_NAME,
                            "algorithm": "hmac-sha256",
                            "secret_file": str(bind.key_file),
                        },
                    }
                },
            }
        },
    }


class Daemon:
    """`failoverd run` as a child process; its JSON log lines are awaitable events."""

    def __init__(
        self, config_path: Path, api_port: int, token: str, env: dict[str, str] | None = None
    ) -> None:
        self.config_path, self.api_port, self.token = config_path, api_port, token
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    @property
    def api(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    async def start(self, wait_for: str = "started") -> None:
        self.lines.clear()
        # FAILOVERD_DAEMON_PYTHON: run the daemon from another install (e.g. a venv with no test
        # or lint extras, to measure memory as a production install has it)
        python = os.environ.get("FAILOVERD_DAEMON_PYTHON", sys.executable)
        self.proc = await asyncio.create_subprocess_exec(
            python,
            "-m",
            "failoverd",
            "run",
            "-c",
            str(self.config_path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait_for(wait_for)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            text = raw.decode(errors="replace").rstrip("\n")
            self.raw.append(text)
            with contextlib.suppress(ValueError):
                line = json.loads(text)
                line["_t"] = time.monotonic()
                async with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    def matching(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            ln
            for ln in self.lines
            if ln.get("event") == event and all(ln.get(k) == v for k, v in fields.items())
        ]

    async def wait_for(
        self, event: str, timeout: float = 15.0, nth: int = 1, **fields: Any
    ) -> dict[str, Any]:
        """The nth log line with this event (and fields), awaiting it if not yet written."""

        def found() -> bool:
            return len(self.matching(event, **fields)) >= nth or self.exited

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(found)
        except TimeoutError:
            tail = "\n".join(self.raw[-15:])
            raise AssertionError(
                f"no {event} {fields} logged within {timeout}s; log tail:\n{tail}"
            ) from None
        hits = self.matching(event, **fields)[nth - 1 :]
        if not hits:
            raise AssertionError(
                f"daemon exited before logging {event} {fields}:\n" + "\n".join(self.raw[-20:])
            )
        return hits[0]

    async def status(self, service: str | None = "webapp") -> dict[str, Any]:
        """GET /v1/status: one service's entry, or the whole answer (service=None)."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.api}/v1/status") as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
        return answer if service is None else answer["services"][service]

    async def metric(self, name: str, **labels: str) -> float | None:
        """A sample of /metrics (read with prometheus_client's parser) whose labels include
        these; None when there is none."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.api}/metrics") as r:
            text = await r.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    return float(sample.value)
        return None

    async def command(self, verb: str, service: str = "webapp", reason: str = "lab") -> int:
        """POST an operator command with this daemon's token; the HTTP status."""
        url = f"{self.api}/v1/services/{service}/{verb}"
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url, json={"reason": reason}, headers={"Authorization": f"Bearer {self.token}"}
            ) as r,
        ):
            return r.status

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    async def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            code = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.wait()

    async def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.returncode is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        return await self.wait()


async def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, str, str]:
    """`failoverd ARGS` as an operator runs it: (exit code, stdout, stderr). Never blocks the loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "failoverd",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def self_signed(directory: Path, host: str = LOOPBACK) -> tuple[ssl.SSLContext, Path]:
    """A throwaway self-signed certificate for the IP `host`: the server's TLS context, and the
    certificate's path, for a client to trust as its CA bundle (a probe's ca_file)."""
    from cryptography import x509  # moto's dependency: only the TLS tests need it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"failoverd lab {host}")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx, cert_path


@contextlib.asynccontextmanager
async def backends(n: int = 2, also: tuple[str, ...] = ()) -> AsyncIterator[list[Backend]]:
    started = [Backend(also=also) for _ in range(n)]
    for b in started:
        await b.start()
    try:
        yield started
    finally:
        for b in started:
            await b.close()


Clock = Callable[[], float]


# --------------------------------------------------------------------------- notification receivers


@dataclass
class Receiver:
    """A webhook receiver: answers ok (202), fail (500), throttle (429), refuse (400) or hang."""

    mode: str = "ok"
    retry_after: str = "1"
    got: list[dict[str, Any]] = field(default_factory=list)  # accepted bodies
    seen: list[float] = field(default_factory=list)  # every request's arrival (monotonic)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends a hang
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(time.monotonic())
        async with self.changed:
            self.changed.notify_all()
        body = await request.json()
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "fail":
            return web.Response(status=500, text="boom")
        if self.mode == "throttle":
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        if self.mode == "refuse":
            return web.Response(status=400, text="bad routing key")
        self.got.append(body)
        async with self.changed:
            self.changed.notify_all()
        return web.json_response({"status": "success"}, status=202)

    async def wait(self, n: int, timeout: float = 10.0) -> None:
        """Until n bodies were accepted."""
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: len(self.got) >= n)

    async def wait_seen(self, n: int, timeout: float = 10.0) -> None:
        """Until n requests arrived, whatever was answered."""
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: len(self.seen) >= n)


@contextlib.asynccontextmanager
async def receivers(n: int = 1) -> AsyncIterator[list[Receiver]]:
    """n receivers on 127.0.0.1, each on a port of its own (paths /hook and /v2/enqueue)."""
    started: list[tuple[Receiver, web.AppRunner]] = []
    try:
        for _ in range(n):
            rec = Receiver()
            app = web.Application()
            app.router.add_post("/hook", rec.handle)
            app.router.add_post("/v2/enqueue", rec.handle)
            runner = web.AppRunner(app, shutdown_timeout=0.1)
            await runner.setup()
            site = web.TCPSite(runner, LOOPBACK, 0)
            await site.start()
            rec.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            started.append((rec, runner))
        yield [rec for rec, _ in started]
    finally:
        for rec, runner in started:
            rec.release.set()
            await runner.cleanup()


class DaemonFactory:
    """Writes a hot-mode config for the lab and runs `failoverd run` on it."""

    def __init__(
        self,
        tmp_path: Path,
        bind: Bind,
        sides: tuple[Backend, Backend],
        token: tuple[str, Path],
    ) -> None:
        self.tmp_path, self.bind, self.sides, self.token = tmp_path, bind, sides, token
        self.api_port = free_port()
        self.started: list[Daemon] = []
        self.config_path = tmp_path / "failoverd.yaml"

    def config(self, **policy: Any) -> dict[str, object]:
        return hot_config(
            self.bind, *self.sides, self.tmp_path, self.api_port, self.token[1], **policy
        )

    async def start(self, config: dict[str, object] | None = None, **policy: Any) -> Daemon:
        write_config(self.config_path, config or self.config(**policy))
        d = Daemon(self.config_path, self.api_port, self.token[0])
        self.started.append(d)
        await d.start()
        return d
