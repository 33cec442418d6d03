"""Benchmark: what one transition's save costs as the number of services grows.

Each service's record carries a full history (200 events) and a finished plan. For N services
the bench writes every record once, then times saves of one service's record through the
daemon's path (`FileStore.save`: encoded on the loop, written and fsync'd on the store's thread),
and, for comparison, the old whole-file save (every service in one fsync'd file).

    python chaos/bench_store.py [--sizes 10 100 1000 2000 --saves 50]

Writes chaos/results/bench_store.json and prints p50/p99 per size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from failoverd.machine import StartPlan
from failoverd.store import Event, FileStore, PlanRecord, ServiceRecord, Step, codec


def full_record() -> ServiceRecord:
    rec = ServiceRecord()
    plan = PlanRecord.new(
        StartPlan("failover", "auto", "standby", "bench", 0.0),
        [Step("fence"), Step("prepare"), Step("switch"), Step("verify")],
        1.0,
    )
    rec.last_failover = plan
    for i in range(200):
        rec.add_event(
            Event(
                float(i),
                "svc",
                "primary_active",
                "primary_suspect",
                "primary",
                f"primary failed {i} of 3 rounds",
            )
        )
    return rec


def whole_file_save(path: Path, records: dict[str, ServiceRecord]) -> None:
    """What 0.1 did on every transition: every record into one file, fsync'd, on the loop."""
    data = {"schema": 2, "services": {n: codec.record_to_dict(r) for n, r in records.items()}}
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(n: int, saves: int, tmp: Path) -> dict[str, float]:
    store = FileStore(tmp / f"n{n}" / "state.json")
    store.lock()
    records = {f"svc{i}": full_record() for i in range(n)}
    store.save_all(records)
    loop = asyncio.get_running_loop()
    per_service, on_loop = [], []
    for _ in range(saves):
        t0 = time.perf_counter()
        future = asyncio.ensure_future(store.save("svc0", records["svc0"]))
        await asyncio.sleep(0)
        on_loop.append(time.perf_counter() - t0)  # what the event loop spends before it goes on
        await future
        per_service.append(time.perf_counter() - t0)
    whole = []
    for _ in range(max(3, saves // 10)):
        t0 = time.perf_counter()
        whole_file_save(tmp / f"n{n}" / "whole.json", records)
        whole.append(time.perf_counter() - t0)
    store.unlock()
    del loop
    return {
        "services": n,
        "save_p50_ms": round(statistics.median(per_service) * 1000, 2),
        "save_p99_ms": round(pct(per_service, 0.99) * 1000, 2),
        "event_loop_p99_ms": round(pct(on_loop, 0.99) * 1000, 3),
        "whole_file_p50_ms": round(statistics.median(whole) * 1000, 1),
    }


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="failoverd-bench-store-", dir=args.dir))
    rows = [await measure(n, args.saves, tmp) for n in args.sizes]
    for r in rows:
        print(
            f"{r['services']:>5} services: one transition's save p50 {r['save_p50_ms']} ms, "
            f"p99 {r['save_p99_ms']} ms (event loop p99 {r['event_loop_p99_ms']} ms); "
            f"the whole-file save of 0.1: {r['whole_file_p50_ms']} ms"
        )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_store.json").write_text(json.dumps(rows, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 2000])
    ap.add_argument("--saves", type=int, default=50)
    ap.add_argument("--dir", default=None, help="where the state goes (default: the temp dir)")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
