"""Command probe: exit 0 within the timeout is healthy (for checks no other kind can express)."""

from __future__ import annotations

import time

from failoverd import command, config
from failoverd.errors import ActionError
from failoverd.probes import Observation


class CommandProbe:
    def __init__(self, spec: config.CommandProbe) -> None:
        self.spec = spec

    async def __call__(self) -> Observation:
        start = time.perf_counter()
        try:
            result = await command.run(self.spec.argv, self.spec.timeout)
        except ActionError as e:
            return Observation(False, time.perf_counter() - start, str(e)[:200])
        last = result.tail.strip().splitlines()[-1:] or ["exit 0"]
        return Observation(True, time.perf_counter() - start, last[0][:200])
