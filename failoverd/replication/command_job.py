"""Command job: argv with a timeout (pg_basebackup, rsync, a script); exit 0 is a success."""

from __future__ import annotations

from failoverd import command, config


class CommandJob:
    def __init__(self, spec: config.CommandSpec, service: str, job: str) -> None:
        self.spec, self.env = spec, {"FAILOVERD_SERVICE": service, "FAILOVERD_JOB": job}

    async def __call__(self) -> str:
        result = await command.run(self.spec.argv, self.spec.timeout, self.env)
        last = result.tail.strip().splitlines()[-1:] or ["exit 0"]
        return last[0][:200]
