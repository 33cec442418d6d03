"""Benchmark: failover latency over N outages against a real BIND on loopback.

For each outage the primary backend goes hard down (connections refused) and we measure
  - outage -> switched DNS answer: until the lab's BIND answers the standby's address,
    read with dnspython every 5 ms (detection by the probes is most of this time), and
  - the daemon's own part: from the decision (plan_start) to the verified switch (plan_done),
    taken from the daemon's own log timestamps.
Then the primary comes back and a manual failback restores the start.

    python chaos/bench_failover.py --outages 20 [--interval 500ms --threshold 3]
    python chaos/bench_failover.py --outages 10 --interval 2s --background 1999

--background N adds N more services to the same daemon (one HTTP probe per side against a
target in a process of its own, each its own DNS record, interval 2s), so the failover is
measured in a busy daemon; outage -> verified switch (the plan_done line) is reported too.

Writes chaos/results/bench_failover.json and prints p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaos.bench_probes import RemoteSink, daemon_config
from tests import lab


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ts(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["timestamp"]).timestamp()


async def bench(outages: int, interval: str, threshold: int, background: int = 0) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="failoverd-bench-"))
    bind = lab.make_bind(tmp / "bind")
    bind.start()
    token = tmp / "token"
    token.write_text("bench-token")
    to_dns, own, to_done = [], [], []
    sink = RemoteSink()
    if background:
        await sink.start()
    try:
        async with lab.backends(2) as (primary, standby):
            api_port = lab.free_port()
            cfg = lab.hot_config(
                bind,
                primary,
                standby,
                tmp,
                api_port,
                token,
                interval=interval,
                failure_threshold=threshold,
                recovery_threshold=2,
                hold_down="0s",
            )
            if background:
                (tmp / "bg").mkdir()
                cfg["services"] |= daemon_config(tmp / "bg", bind, sink, background, "2s")[
                    "services"
                ]
            d = lab.Daemon(lab.write_config(tmp / "failoverd.yaml", cfg), api_port, "bench-token")
            await d.start()
            await d.wait_for("side_ready", side="standby", service="webapp", timeout=60)
            for i in range(1, outages + 1):
                await primary.down()
                t0 = time.monotonic()
                while bind.answer() != [lab.STANDBY_IP]:  # noqa: ASYNC110 (polling BIND is the measurement)
                    await asyncio.sleep(0.005)
                to_dns.append(time.monotonic() - t0)
                start = await d.wait_for("plan_start", nth=i, kind="failover", service="webapp")
                done = await d.wait_for("plan_done", nth=i, kind="failover", service="webapp")
                assert done["result"] == "success", done
                to_done.append(done["_t"] - t0)
                own.append(ts(done) - ts(start))
                await primary.up()
                await d.wait_for("side_ready", nth=i + 1, side="primary", service="webapp")
                assert await d.command("failback") == 202
                await d.wait_for("plan_done", nth=i, kind="failback", service="webapp")
                print(
                    f"outage {i:2}: outage->DNS {to_dns[-1] * 1000:7.1f} ms   daemon's part {own[-1] * 1000:6.1f} ms"
                    f"   outage->verified switch {to_done[-1] * 1000:7.1f} ms"
                )
            await d.stop()
    finally:
        await sink.stop()
        bind.stop()
    summary = {
        "outages": outages,
        "interval": interval,
        "failure_threshold": threshold,
        "background_services": background,
        "outage_to_verified_switch_seconds": {
            "p50": pct(to_done, 0.5),
            "p99": pct(to_done, 0.99),
            "max": max(to_done),
        },
        "outage_to_dns_seconds": {
            "p50": pct(to_dns, 0.5),
            "p99": pct(to_dns, 0.99),
            "mean": statistics.mean(to_dns),
            "max": max(to_dns),
        },
        "daemon_part_seconds": {
            "p50": pct(own, 0.5),
            "p99": pct(own, 0.99),
            "mean": statistics.mean(own),
            "max": max(own),
        },
        "samples": {"outage_to_dns": to_dns, "daemon_part": own},
    }
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--outages", type=int, default=20)
    ap.add_argument("--interval", default="500ms")
    ap.add_argument("--threshold", type=int, default=3)
    ap.add_argument("--background", type=int, default=0, help="more services in the daemon")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "bench_failover.json"
    )
    args = ap.parse_args()
    summary = asyncio.run(bench(args.outages, args.interval, args.threshold, args.background))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    o, p = summary["outage_to_dns_seconds"], summary["daemon_part_seconds"]
    print(
        f"outage -> switched DNS answer: p50 {o['p50'] * 1000:.0f} ms, p99 {o['p99'] * 1000:.0f} ms"
    )
    print(
        f"daemon's part (decision -> verified switch): p50 {p['p50'] * 1000:.1f} ms, p99 {p['p99'] * 1000:.1f} ms"
    )
    v = summary["outage_to_verified_switch_seconds"]
    print(f"outage -> verified switch: p50 {v['p50'] * 1000:.0f} ms, p99 {v['p99'] * 1000:.0f} ms")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
