"""What each library costs in memory: RSS after each import, in the order the daemon needs them.

    /path/to/venv/bin/python chaos/bench_imports.py

Run it with a production install's Python (a venv with only `pip install .`), so that no test
or lab package is loaded. Each row is the growth of VmRSS (/proc/self/status) when that module
(and what it imports that the rows above did not) is imported; "tls context" is the verified
SSLContext aiohttp makes at import, loading the system's CA bundle. Prints a table and writes
chaos/results/bench_imports.json.
"""

from __future__ import annotations

import importlib  # the only import before the first reading; the rest come after the last

STEPS = (
    ("asyncio (with ssl and OpenSSL)", "asyncio"),
    ("tls context", None),
    ("aiohttp (client)", "aiohttp"),
    ("aiohttp.web (the API server)", "aiohttp.web"),
    ("pydantic", "pydantic.main"),
    ("prometheus-client", "prometheus_client"),
    ("structlog", "structlog"),
    ("tenacity", "tenacity"),
    ("dnspython (queries, UPDATE, TSIG)", "dns.asyncquery"),
    ("PyYAML (libyaml)", "yaml"),
    ("failoverd's config models", "failoverd.config"),
    ("the rest of failoverd", "failoverd.app.cli"),
)


def rss_mb() -> float:
    # not bench_probes.rss_mb: importing that module loads aiohttp before the first reading
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    rows = [{"what": "Python itself", "mb": round(rss_mb(), 1)}]
    before = rss_mb()
    for what, module in STEPS:
        if module is None:
            importlib.import_module("ssl").create_default_context()
        else:
            importlib.import_module(module)
        now = rss_mb()
        rows.append({"what": what, "mb": round(now - before, 1)})
        before = now
    rows.append({"what": "total", "mb": round(before, 1)})
    for row in rows:
        print(f"{row['mb']:6.1f}  {row['what']}")
    import json
    from pathlib import Path

    out = Path(__file__).resolve().parent / "results" / "bench_imports.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
