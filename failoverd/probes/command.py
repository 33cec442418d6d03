"""Command probe: exit 0 within the timeout is healthy (for checks no other kind can express)."""

from __future__ import annotations

from failoverd.clients import process
from failoverd.config import CommandProbe as Spec
from failoverd.kit.errors import ActionError
from failoverd.probes.base import Observation, ProbeContext, Timer, register


class CommandProbe:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    async def __call__(self) -> Observation:
        t = Timer()
        try:
            result = await process.run(self.spec.argv, self.spec.timeout)
        except ActionError as e:
            return t.failed(str(e))
        last = result.tail.strip().splitlines()[-1:] or ["exit 0"]
        return t.result(True, last[0][:200])


@register("command")
def build(spec: Spec, ctx: ProbeContext) -> CommandProbe:
    return CommandProbe(spec)
