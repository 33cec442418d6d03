"""`failoverd demo`: a whole failover on loopback, with nothing installed beyond the package.

Two local HTTP backends play the primary and the standby, moto's server plays Route 53 on a
free loopback port, and the real daemon runs on a real config (written to a temp dir and
printed). The demo shows a line per probe round, takes the primary down, shows the failover
and prints the measured RTO. Needs the `demo` extra (moto): pip install 'failoverd[demo]'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import yaml
from aiohttp import web

from failoverd import config
from failoverd.app.daemon import Daemon
from failoverd.kit import logs

LOOPBACK = "127.0.0.1"
ZONE, RECORD = "demo.failoverd.test.", "www.demo.failoverd.test."
PRIMARY_IP, STANDBY_IP = "192.0.2.10", "198.51.100.10"  # documentation addresses: data only
DEMO_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class Backend:
    """A /healthz endpoint on 127.0.0.1 that can go hard down (connections refused)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/healthz"

    async def up(self) -> None:
        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, LOOPBACK, self.port).start()

    async def down(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def _config(
    tmp: Path, moto: str, zone_id: str, primary: Backend, standby: Backend, api_port: int
) -> dict[str, Any]:
    return {
        "api": {"listen": f"{LOOPBACK}:{api_port}", "token_file": str(tmp / "api.token")},
        "state": {"path": str(tmp / "state.json")},
        "log": {"format": "json", "level": "info"},
        "services": {
            "webapp": {
                "mode": "hot",
                "primary": "beijing",
                "standby": "shanghai",
                "objectives": {"rto": "10s"},
                "probes": {
                    "primary": [{"http": {"url": primary.url, "timeout": "300ms"}}],
                    "standby": [{"http": {"url": standby.url, "timeout": "300ms"}}],
                },
                "policy": {
                    "interval": "500ms",
                    "failure_threshold": 3,
                    "recovery_threshold": 2,
                    "quorum": "majority",
                    "hold_down": "1m",
                },
                "traffic": {
                    "route53": {
                        "hosted_zone_id": zone_id,
                        "name": RECORD,
                        "type": "A",
                        "ttl": 30,
                        "primary": [PRIMARY_IP],
                        "standby": [STANDBY_IP],
                        "region": "us-east-1",
                        "endpoint_url": moto,
                        "insync_poll": "200ms",
                    }
                },
            }
        },
    }


class Timeline:
    """Prints one line per probe round: probes, state, and the record as Route 53 has it."""

    def __init__(self, daemon: Daemon, r53: Any, zone_id: str, out: TextIO) -> None:
        self.daemon, self.r53, self.zone_id, self.out = daemon, r53, zone_id, out
        self.t0 = time.monotonic()
        self.rounds = 0
        self.seen_events = 0

    def say(self, text: str) -> None:
        print(f"  {time.monotonic() - self.t0:5.1f}s  {text}", file=self.out, flush=True)

    def record(self) -> str:
        got = self.r53.list_resource_record_sets(
            HostedZoneId=self.zone_id, StartRecordName=RECORD, StartRecordType="A", MaxItems="1"
        )
        values = [
            r["Value"]
            for rr in got["ResourceRecordSets"]
            if rr["Name"] == RECORD
            for r in rr["ResourceRecords"]
        ]
        return ",".join(values)

    async def tick(self) -> dict[str, Any]:
        runner = self.daemon.runners["webapp"]
        svc: dict[str, Any] = runner.status()
        events = self.daemon.control.events(1000)
        for ev in reversed(events[: len(events) - self.seen_events]):
            self.say(f"▶ {ev['from']} → {ev['to']}: {ev['reason']}")
        self.seen_events = len(events)
        if runner.rounds != self.rounds:
            self.rounds = runner.rounds
            sides = []
            for side in ("primary", "standby"):
                for p in svc["probes"][side]:
                    mark = "✔" if p["ok"] else "✘"
                    sides.append(f"{side} {mark} {p['reason'][:30]:30}")
            value = await asyncio.to_thread(self.record)
            self.say(f"{' │ '.join(sides)} │ {svc['state']:15} │ {RECORD} A {value}")
        return svc


async def _wait(timeline: Timeline, until: Any, limit: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        svc = await timeline.tick()
        if until(svc):
            return svc
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not reach the expected state in time")
        await asyncio.sleep(0.1)


class Lab:
    """What the demo stands up: moto as Route 53 with the record, two backends, a config."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # moto's HTTP server logs every request through werkzeug: keep the timeline readable.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.tmp = Path(tempfile.mkdtemp(prefix="failoverd-demo-"))
        self.endpoint = f"http://{LOOPBACK}:{_free_port()}"
        self.moto = ThreadedMotoServer(
            ip_address=LOOPBACK, port=int(self.endpoint.rsplit(":", 1)[1]), verbose=False
        )
        self.primary, self.standby = Backend(), Backend()
        self.api_port = _free_port()
        self.token = secrets.token_urlsafe(18)

    async def start(self) -> tuple[Any, str, Path]:
        """Start everything; returns the Route 53 client, the zone id and the config path."""
        from failoverd.clients import aws

        self.moto.start()
        r53 = aws.client("route53", "us-east-1", self.endpoint)
        zone_id = r53.create_hosted_zone(Name=ZONE, CallerReference=secrets.token_hex(8))[
            "HostedZone"
        ]["Id"]
        r53.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": RECORD,
                            "Type": "A",
                            "TTL": 30,
                            "ResourceRecords": [{"Value": PRIMARY_IP}],
                        },
                    }
                ]
            },
        )
        await self.primary.up()
        await self.standby.up()
        token_file = self.tmp / "api.token"
        token_file.write_text(self.token + "\n")
        token_file.chmod(0o600)
        path = self.tmp / "failoverd.yaml"
        cfg = _config(self.tmp, self.endpoint, zone_id, self.primary, self.standby, self.api_port)
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return r53, zone_id, path

    async def stop(self) -> None:
        await self.primary.down()
        await self.standby.down()
        self.moto.stop()


async def run(keep_running: bool = False, out: TextIO = sys.stdout) -> int:
    """The demo; 0 after a failover (and, with keep_running, after Ctrl-C)."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        print("failoverd demo needs moto: pip install 'failoverd[demo]'", file=sys.stderr)
        return 2
    # moto plays AWS on loopback: never hand it (or anything) real credentials.
    os.environ.update(DEMO_AWS_ENV)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    lab = Lab()
    daemon: Daemon | None = None
    log_file = (lab.tmp / "failoverd.log").open("w")
    try:
        r53, zone_id, path = await lab.start()
        print(
            f"failoverd demo: Route 53 is moto on {lab.endpoint}; backends on {lab.primary.url} and {lab.standby.url}",
            file=out,
        )
        print(
            f"\nThe config ({path}):\n\n    " + path.read_text().replace("\n", "\n    ").rstrip(),
            file=out,
        )
        print(f"\nDaemon log (JSON lines): {log_file.name}\n", file=out, flush=True)
        logs.configure("json", "info", stream=log_file)
        daemon = Daemon(config.load(path), path)
        await daemon.start()
        timeline = Timeline(daemon, r53, zone_id, out)
        await _wait(timeline, lambda s: s["ready"]["standby"], 20)
        timeline.say(
            "the standby is ready. Taking the primary down: connections refused from now on"
        )
        await lab.primary.down()
        svc = await _wait(timeline, lambda s: s["state"] == "standby_active", 20)
        seen = daemon.runners["webapp"].rounds  # one more round, to show the switched record
        await _wait(timeline, lambda s: daemon.runners["webapp"].rounds > seen, 5)
        lf = svc["last_failover"]
        steps = ", ".join(f"{s['name']} {s['duration_seconds'] * 1000:.0f} ms" for s in lf["steps"])
        print(
            f"\nFailover done: {RECORD} now answers {timeline.record()} (the standby). Steps: {steps}.",
            file=out,
        )
        if keep_running:
            api = f"http://{LOOPBACK}:{lab.api_port}"
            print(
                f"\nStill running. Try:\n    curl -s {api}/v1/status\n    curl -s {api}/metrics | grep failoverd_\n"
                f"    curl -s -X POST -H 'Authorization: Bearer {lab.token}' {api}/v1/services/webapp/failback\n"
                "Press Ctrl-C to stop.",
                file=out,
                flush=True,
            )
            await _until_interrupted()
        print(
            f"Measured RTO: {lf['rto_seconds']:.2f} s (last healthy primary round -> verified switch)",
            file=out,
        )
        return 0
    finally:
        if daemon is not None:
            await daemon.stop()
        await lab.stop()
        log_file.close()


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(asyncio.CancelledError):
        await stop.wait()
