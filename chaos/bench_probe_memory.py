"""Memory per HTTP probe, by TLS setting: RSS growth while building N probes of each kind.

    python chaos/bench_probe_memory.py [--count 300]

Builds the probes as the daemon does (probes.build, one shared session), nothing is sent:
plain http://, https:// verified by the system's CAs, https:// with a ca_file (one bundle for
all), and https:// with verify_tls: false. A TLS context holds its CA bundle in memory, so what
matters is how many contexts the probes make. Writes chaos/results/bench_probe_memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaos import bench_probes
from failoverd import config, probes
from failoverd.clients.clusters import Clusters


def rss_mb() -> float:
    return bench_probes.rss_mb(os.getpid())


async def main(count: int) -> list[dict[str, Any]]:
    ca = Path(tempfile.mkdtemp(prefix="failoverd-bench-")) / "ca.pem"
    ca.write_text(
        Path(
            ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
        ).read_text()
    )
    kinds: dict[str, dict[str, Any]] = {
        "http": {},
        "https, system CAs": {},
        "https, ca_file": {"ca_file": str(ca)},
        "https, verify_tls false": {"verify_tls": False},
    }
    rows = []
    async with aiohttp.ClientSession() as session:
        ctx = probes.ProbeContext(session, Clusters({}))
        kept = []
        for kind, extra in kinds.items():
            scheme = "http" if kind == "http" else "https"
            specs = [
                config.ProbeSpec.model_validate(
                    {"http": {"url": f"{scheme}://svc{i}.example.test/healthz", **extra}}
                )
                for i in range(count)
            ]
            before, t0 = rss_mb(), time.perf_counter()
            kept += [probes.build(s, ctx) for s in specs]
            grew = rss_mb() - before
            rows.append(
                {
                    "kind": kind,
                    "probes": count,
                    "rss_mb": round(grew, 1),
                    "kb_per_probe": round(grew * 1024 / count, 1),
                    "build_seconds": round(time.perf_counter() - t0, 3),
                }
            )
    for r in rows:
        print(
            f"{r['kind']:26s} {r['probes']} probes: +{r['rss_mb']:6.1f} MB "
            f"({r['kb_per_probe']} KB each), built in {r['build_seconds']} s"
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    result = asyncio.run(main(parser.parse_args().count))
    out = Path(__file__).resolve().parent / "results" / "bench_probe_memory.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
