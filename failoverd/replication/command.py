"""Command job: argv with a timeout (pg_basebackup, rsync, a script); exit 0 is a success."""

from __future__ import annotations

from failoverd.clients import process
from failoverd.config import CommandSpec
from failoverd.replication.base import JobContext, register


class CommandJob:
    def __init__(self, spec: CommandSpec, service: str, job: str) -> None:
        self.spec, self.env = spec, {"FAILOVERD_SERVICE": service, "FAILOVERD_JOB": job}

    async def __call__(self) -> str:
        result = await process.run(self.spec.argv, self.spec.timeout, self.env)
        last = result.tail.strip().splitlines()[-1:] or ["exit 0"]
        return last[0][:200]


@register("command")
def build(spec: CommandSpec, ctx: JobContext) -> CommandJob:
    return CommandJob(spec, ctx.service, ctx.job)
