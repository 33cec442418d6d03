"""The probe target of the scale benchmark, as a process of its own (not the daemon's core).

    python chaos/sink.py PORT

GET /healthz?src=S&t=T answers 200 and records when target T of prober S was probed
(CLOCK_MONOTONIC, comparable across processes on one host); GET /stats?src=S&since=A&until=B
answers {"count", "jitter"} (each |gap between two probes of a target - interval|, interval
from &interval=); GET /reset forgets everything. Runs on uvloop when it is installed.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections import defaultdict

from aiohttp import web

seen: dict[tuple[str, str], list[float]] = defaultdict(list)


async def healthz(request: web.Request) -> web.Response:
    seen[request.query.get("src", "?"), request.query.get("t", "?")].append(time.monotonic())
    return web.Response(text="ok")


async def stats(request: web.Request) -> web.Response:
    src, q = request.query["src"], request.query
    since, until, interval = float(q["since"]), float(q["until"]), float(q["interval"])
    count, jitter = 0, []
    for (s, _), ts in seen.items():
        if s != src:
            continue
        window = [t for t in ts if since <= t < until]
        count += len(window)
        jitter += [abs((b - a) - interval) for a, b in itertools.pairwise(window)]
    return web.json_response({"count": count, "jitter": jitter})


async def reset(_: web.Request) -> web.Response:
    seen.clear()
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/stats", stats)
    app.router.add_get("/reset", reset)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        backlog=4096,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
