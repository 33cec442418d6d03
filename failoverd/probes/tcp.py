"""TCP probe: a connection that opens within the timeout is healthy."""

from __future__ import annotations

import asyncio
import os
import time

from failoverd import config
from failoverd.probes import Observation


class TcpProbe:
    def __init__(self, spec: config.TcpProbe) -> None:
        self.spec = spec

    async def __call__(self) -> Observation:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.spec.timeout):
                _, writer = await asyncio.open_connection(self.spec.host, self.spec.port)
        except TimeoutError:
            return Observation(
                False, time.perf_counter() - start, f"timeout after {self.spec.timeout:g}s"
            )
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            return Observation(False, time.perf_counter() - start, f"connect: {reason}")
        latency = time.perf_counter() - start
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return Observation(True, latency, "connected")
