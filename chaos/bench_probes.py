"""Benchmarks: what probing costs, beside Debian's prometheus-blackbox-exporter, and at scale.

    python chaos/bench_probes.py probes [--services 150 --seconds 60]
    python chaos/bench_probes.py scale  [--sizes 10 100 500 1000 2000 --seconds 30]

`probes`: failoverd runs N services x 2 sides, one HTTP probe each, interval 1s, against one
local backend; in the same run, blackbox_exporter is driven at the same rate (one /probe per
target per second, by this script, playing Prometheus). Reported per process: CPU seconds per
probe (utime+stime from /proc over the window / probes the backend saw from it), RSS, and the
per-target interval jitter seen at the backend (|gap between two probes of a target - 1s|).

`scale`: failoverd alone with N services (default policy interval 2s) for each N; CPU
(seconds per second) and RSS after a warm-up. Both write JSON and a PNG into chaos/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from tests import lab

RESULTS = Path(__file__).resolve().parent / "results"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


class Sink:
    """The one backend: answers 200 and records when each target was probed, by whom."""

    def __init__(self) -> None:
        self.port = lab.free_port()
        self.seen: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.seen[request.query.get("src", "?"), request.query.get("t", "?")].append(
            time.monotonic()
        )
        return web.Response(text="ok")

    def url(self, src: str, target: str) -> str:
        return f"http://{lab.LOOPBACK}:{self.port}/healthz?src={src}&t={target}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, lab.LOOPBACK, self.port, backlog=4096).start()

    def count(self, src: str, since: float, until: float) -> int:
        return sum(
            1 for (s, _), ts in self.seen.items() if s == src for t in ts if since <= t < until
        )

    def jitter(self, src: str, since: float, until: float, interval: float) -> list[float]:
        out = []
        for (s, _), ts in self.seen.items():
            if s != src:
                continue
            window = [t for t in ts if since <= t < until]
            out += [abs((b - a) - interval) for a, b in itertools.pairwise(window)]
        return out


class RemoteSink:
    """The same target in a process of its own (chaos/sink.py): it never shares a loop with the
    bench, and the OS may schedule it on the other core than the daemon's."""

    def __init__(self) -> None:
        self.port = lab.free_port()
        self.proc: asyncio.subprocess.Process | None = None

    def url(self, src: str, target: str) -> str:
        return f"http://{lab.LOOPBACK}:{self.port}/healthz?src={src}&t={target}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).parent / "sink.py"), str(self.port)
        )
        async with aiohttp.ClientSession() as s:
            for _ in range(100):
                try:
                    async with s.get(f"http://{lab.LOOPBACK}:{self.port}/reset"):
                        return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        raise SystemExit("the sink did not start")

    async def stats(self, src: str, since: float, until: float, interval: float) -> dict[str, Any]:
        q = {"src": src, "since": str(since), "until": str(until), "interval": str(interval)}
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://{lab.LOOPBACK}:{self.port}/stats", params=q) as r,
        ):
            data: dict[str, Any] = await r.json()
            return data

    async def reset(self) -> None:
        async with aiohttp.ClientSession() as s, s.get(f"http://{lab.LOOPBACK}:{self.port}/reset"):
            pass

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            await self.proc.wait()


def daemon_config(
    tmp: Path, bind: lab.Bind, sink: Sink | RemoteSink, services: int, interval: str
) -> dict[str, Any]:
    token = tmp / "token"
    token.write_text("bench")

    def traffic(i: int) -> dict[str, Any]:  # each service its own record (no two on one)
        return {
            "rfc2136": {
                "server": bind.server,
                "zone": lab.ZONE,
                "name": f"svc{i:04}.{lab.ZONE}",
                "ttl": 5,
                "primary": [lab.PRIMARY_IP],
                "standby": [lab.STANDBY_IP],
                "tsig": {"name": lab.KEY_NAME, "secret_file": str(bind.key_file)},
            }
        }

    return {
        "api": {"listen": f"{lab.LOOPBACK}:{lab.free_port()}", "token_file": str(token)},
        "state": {"path": str(tmp / "state.json")},
        "log": {"format": "json", "level": "info"},
        "services": {
            f"svc{i:04}": {
                "primary": "a",
                "standby": "b",
                "traffic": traffic(i),
                "policy": {"interval": interval},
                "probes": {
                    side: [{"http": {"url": sink.url("failoverd", f"{i}-{side}"), "timeout": "1s"}}]
                    for side in ("primary", "standby")
                },
            }
            for i in range(services)
        },
    }


async def start_daemon(
    tmp: Path, bind: lab.Bind, sink: Sink | RemoteSink, services: int, interval: str
) -> lab.Daemon:
    cfg = daemon_config(tmp, bind, sink, services, interval)
    path = lab.write_config(tmp / "failoverd.yaml", cfg)
    d = lab.Daemon(path, int(cfg["api"]["listen"].rsplit(":", 1)[1]), "bench")
    await d.start()
    return d


async def blackbox(tmp: Path) -> tuple[asyncio.subprocess.Process, int]:
    exe = shutil.which("prometheus-blackbox-exporter")
    if exe is None:
        raise SystemExit(
            "needs Debian's prometheus-blackbox-exporter (apt-get install prometheus-blackbox-exporter)"
        )
    (tmp / "blackbox.yml").write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 1s\n")
    port = lab.free_port()
    proc = await asyncio.create_subprocess_exec(
        exe,
        f"--config.file={tmp / 'blackbox.yml'}",
        f"--web.listen-address={lab.LOOPBACK}:{port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as s:
        for _ in range(100):
            try:
                async with s.get(f"http://{lab.LOOPBACK}:{port}/-/healthy") as r:
                    if r.status == 200:
                        return proc, port
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise SystemExit("blackbox_exporter did not start")


async def drive_blackbox(port: int, sink: Sink, targets: list[str], stop: asyncio.Event) -> None:
    """Play Prometheus: one /probe per target per second, each target on its own steady phase."""
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as s:

        async def one(target: str, phase: float) -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + phase
            while not stop.is_set():
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                url = f"http://{lab.LOOPBACK}:{port}/probe"
                params = {"module": "http_2xx", "target": sink.url("blackbox", target)}
                async with s.get(url, params=params) as r:
                    await r.read()
                deadline += 1.0

        await asyncio.gather(*(one(t, i / len(targets)) for i, t in enumerate(targets)))


async def bench_probes(services: int, seconds: float, warmup: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="failoverd-bench-"))
    bind = lab.make_bind(tmp / "bind")
    bind.start()
    sink = Sink()
    await sink.start()
    d = await start_daemon(tmp, bind, sink, services, "1s")
    bb, bb_port = await blackbox(tmp)
    stop = asyncio.Event()
    targets = [f"{i}-{side}" for i in range(services) for side in ("primary", "standby")]
    driver = asyncio.create_task(drive_blackbox(bb_port, sink, targets, stop))
    try:
        await asyncio.sleep(warmup)
        assert d.proc is not None
        pids = {"failoverd": d.proc.pid, "blackbox_exporter": bb.pid}
        t0, cpu0 = time.monotonic(), {k: cpu_seconds(p) for k, p in pids.items()}
        await asyncio.sleep(seconds)
        t1, cpu1 = time.monotonic(), {k: cpu_seconds(p) for k, p in pids.items()}
        out: dict[str, Any] = {
            "services": services,
            "targets": len(targets),
            "interval_seconds": 1.0,
            "window_seconds": round(t1 - t0, 1),
        }
        for name, pid in pids.items():
            src = "failoverd" if name == "failoverd" else "blackbox"
            probes = sink.count(src, t0, t1)
            jit = sink.jitter(src, t0, t1, 1.0)
            out[name] = {
                "probes": probes,
                "probes_per_second": round(probes / (t1 - t0), 1),
                "cpu_seconds": round(cpu1[name] - cpu0[name], 3),
                "cpu_ms_per_probe": round((cpu1[name] - cpu0[name]) / max(probes, 1) * 1000, 4),
                "rss_mb": round(rss_mb(pid), 1),
                "jitter_p50_ms": round(pct(jit, 0.5) * 1000, 2),
                "jitter_p99_ms": round(pct(jit, 0.99) * 1000, 2),
            }
        out["cpu_ratio_failoverd_to_blackbox"] = round(
            out["failoverd"]["cpu_ms_per_probe"] / out["blackbox_exporter"]["cpu_ms_per_probe"], 3
        )
        return out
    finally:
        stop.set()
        driver.cancel()
        await asyncio.gather(driver, return_exceptions=True)
        bb.kill()
        await bb.wait()
        await d.kill()
        bind.stop()


async def bench_scale(sizes: list[int], seconds: float, warmup: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="failoverd-scale-"))
    bind = lab.make_bind(tmp / "bind")
    bind.start()
    sink = RemoteSink()
    await sink.start()
    rows = []
    try:
        for n in sizes:
            run = tmp / f"n{n}"
            run.mkdir()
            t_start = time.monotonic()
            d = await start_daemon(run, bind, sink, n, "2s")
            startup = time.monotonic() - t_start
            assert d.proc is not None
            await asyncio.sleep(warmup)
            t0, c0 = time.monotonic(), cpu_seconds(d.proc.pid)
            await asyncio.sleep(seconds)
            t1, c1 = time.monotonic(), cpu_seconds(d.proc.pid)
            seen = await sink.stats("failoverd", t0, t1, 2.0)
            probes, jit = seen["count"], seen["jitter"]
            async with aiohttp.ClientSession() as http, http.get(f"{d.api}/metrics") as r:
                failing = sum(
                    1
                    for line in (await r.text()).splitlines()
                    if line.startswith("failoverd_probe_up{") and line.endswith(" 0.0")
                )
            row = {
                "probes_failing_at_end": failing,
                "probes_expected_per_second": n,
                "services": n,
                "probes_per_second": round(probes / (t1 - t0), 1),
                "cpu_seconds_per_second": round((c1 - c0) / (t1 - t0), 3),
                "rss_mb": round(rss_mb(d.proc.pid), 1),
                "cpu_ms_per_probe": round((c1 - c0) / max(probes, 1) * 1000, 4),
                "jitter_p99_ms": round(pct(jit, 0.99) * 1000, 1),
                "startup_seconds": round(startup, 2),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
            await d.kill()
            await sink.reset()
    finally:
        await sink.stop()
        bind.stop()
    return {"interval_seconds": 2.0, "rows": rows}


def plot_probes(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["failoverd", "blackbox_exporter"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, key, label in zip(
        axes,
        ("cpu_ms_per_probe", "rss_mb", "jitter_p99_ms"),
        ("CPU ms per probe", "RSS MB", "p99 interval jitter ms"),
        strict=True,
    ):
        ax.bar(names, [result[n][key] for n in names], color=["#3b6ea8", "#a0a0a0"])
        ax.set_title(label)
    fig.suptitle(f"{result['services']} services x 2 sides, 1 probe/s each, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_scale(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    n = [r["services"] for r in rows]
    fig, (ax1, ax3) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(
        n, [r["cpu_seconds_per_second"] for r in rows], "o-", color="#3b6ea8", label="CPU (s/s)"
    )
    ax1.set_xlabel("services (2 probes each, interval 2s)")
    ax1.set_ylabel("CPU seconds per second", color="#3b6ea8")
    ax2 = ax1.twinx()
    ax2.plot(n, [r["rss_mb"] for r in rows], "s--", color="#c0504d", label="RSS")
    ax2.set_ylabel("RSS MB", color="#c0504d")
    ax3.plot(n, [max(r["jitter_p99_ms"], 0.1) for r in rows], "o-", color="#4f8f4f")
    ax3.axhline(50, color="#999999", linestyle=":", label="target 50 ms")
    ax3.set_yscale("log")
    ax3.set_xlabel("services (probes per second = services)")
    ax3.set_ylabel("p99 interval jitter, ms (log)")
    ax3.legend(loc="upper left")
    fig.suptitle("failoverd at scale (one process, 2 cores; the probe target in its own process)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("probes")
    p.add_argument("--services", type=int, default=150)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--warmup", type=float, default=10)
    s = sub.add_parser("scale")
    s.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500, 1000, 2000])
    s.add_argument("--seconds", type=float, default=30)
    s.add_argument("--warmup", type=float, default=10)
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.what == "probes":
        result = asyncio.run(bench_probes(args.services, args.seconds, args.warmup))
        (RESULTS / "bench_probes.json").write_text(json.dumps(result, indent=2))
        plot_probes(result, RESULTS / "bench_probes.png")
    else:
        result = asyncio.run(bench_scale(args.sizes, args.seconds, args.warmup))
        (RESULTS / "bench_scale.json").write_text(json.dumps(result, indent=2))
        plot_scale(result, RESULTS / "bench_scale.png")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
