"""TCP probe: a connection that opens within the timeout is healthy."""

from __future__ import annotations

import asyncio
import os

from failoverd.config import TcpProbe as Spec
from failoverd.probes.base import Observation, ProbeContext, Timer, register


class TcpProbe:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    async def __call__(self) -> Observation:
        t = Timer()
        try:
            async with asyncio.timeout(self.spec.timeout):
                _, writer = await asyncio.open_connection(self.spec.host, self.spec.port)
        except TimeoutError:
            return t.failed(f"timeout after {self.spec.timeout:g}s")
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            return t.failed(f"connect: {reason}")
        obs = t.result(True, "connected")
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return obs


@register("tcp")
def build(spec: Spec, ctx: ProbeContext) -> TcpProbe:
    return TcpProbe(spec)
