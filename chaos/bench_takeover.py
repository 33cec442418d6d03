"""Benchmark: leader loss -> the other replica acting, over N runs, in an emulated arbiter cluster.

Two `failoverd run` replicas share a Lease and the state ConfigMaps (kmock's emulator with
lab_kube's resourceVersion checks). Each run starts both, waits until one leads and the other
has probed, then loses the leader one of two ways and measures, from that moment to the log
line `leading` of the other replica (elected, state claimed, journaled plans resumed, loops
started; the time the line reaches this process through its pipe):
  - kill: SIGKILL, a crashed pod: bounded below by lease_duration (no one may take the
    lease before it expires) plus up to one retry_period;
  - term: SIGTERM, a rolling update: the leader releases the lease and the watch wakes the
    other replica at once.

    python chaos/bench_takeover.py --runs 10 [--lease 15s --renew 10s --retry 2s]

Writes chaos/results/bench_takeover.json and prints p50/p99 per way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaos.bench_failover import pct
from tests import lab
from tests.lab import ha as lab_ha


async def one(tmp: Path, bind: lab.Bind, way: str, lease: dict[str, str]) -> float:
    token = tmp / "token"
    token.write_text("bench-token")
    async with lab.backends(2) as (primary, standby):
        base = lab.hot_config(bind, primary, standby, tmp, lab.free_port(), token, interval="500ms")
        async with lab_ha.arbiter(tmp, base, "bench-token", lease=lease) as arb:
            a, b = (r.daemon for r in arb.replicas)
            await a.start(wait_for="leading")
            await b.start()
            await b.wait_for("first_round")
            t0 = time.monotonic()
            if way == "kill":
                await a.kill()
            else:
                await a.signal(signal.SIGTERM)
            acting = await b.wait_for("leading", timeout=120)
            assert not arb.overlaps(), arb.overlaps()
            return float(acting["_t"] - t0)


async def bench(runs: int, lease: dict[str, str]) -> dict[str, dict[str, float]]:
    root = Path(tempfile.mkdtemp(prefix="failoverd-bench-ha-"))
    bind = lab.make_bind(root / "bind")
    bind.start()
    out: dict[str, dict[str, float]] = {}
    try:
        for way in ("term", "kill"):
            seen = []
            for i in range(runs):
                tmp = root / f"{way}-{i}"
                tmp.mkdir()
                seen.append(await one(tmp, bind, way, lease))
                print(f"{way} {i + 1}/{runs}: {seen[-1]:.3f}s", flush=True)
            out[way] = {
                "p50": round(pct(seen, 0.5), 3),
                "p99": round(pct(seen, 0.99), 3),
                "max": round(max(seen), 3),
                "runs": runs,
            }
    finally:
        bind.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--lease", default="15s")
    ap.add_argument("--renew", default="10s")
    ap.add_argument("--retry", default="2s")
    args = ap.parse_args()
    lease = {"lease_duration": args.lease, "renew_deadline": args.renew, "retry_period": args.retry}
    result = {"lease": lease, **asyncio.run(bench(args.runs, lease))}
    path = Path(__file__).parent / "results" / "bench_takeover.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    for way in ("term", "kill"):
        r = result[way]
        print(f"leader {way} -> follower acting: p50 {r['p50']}s p99 {r['p99']}s (n={r['runs']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
