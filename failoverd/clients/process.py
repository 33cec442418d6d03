"""Running an operator's command (fence, prepare, probe, replication): argv, timeout, env.

Exit 0 is success. The output's tail (stdout and stderr together) is kept for the status.
A command that outlives its timeout is killed with its whole process group.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass

from failoverd.kit.errors import PermanentError, TransientError

TAIL = 2048
# The daemon's own secrets stay with the daemon: the API token's variable, and every variable
# the config names as a secret's source (hide() adds them when a config is loaded).
_HIDDEN: set[str] = {"FAILOVERD_API_TOKEN"}


def hide(names: set[str]) -> None:
    """Never pass these environment variables to a child command."""
    _HIDDEN.update(names)


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    tail: str


class CommandFailed(TransientError):
    def __init__(self, message: str, tail: str) -> None:
        super().__init__(message)
        self.tail = tail


async def run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> CommandResult:
    """Run argv; CommandFailed on a non-zero exit or a timeout, PermanentError if it cannot start."""
    full_env = {k: v for k, v in os.environ.items() if k not in _HIDDEN} | (env or {})
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )
    except OSError as e:
        raise PermanentError(f"cannot run {argv[0]}: {e.strerror or e}") from None
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except (TimeoutError, asyncio.CancelledError) as e:
        _kill(proc)
        await proc.wait()
        if isinstance(e, asyncio.CancelledError):
            raise
        raise CommandFailed(f"{argv[0]} timed out after {timeout:g}s", "") from None
    tail = out[-TAIL:].decode(errors="replace")
    if proc.returncode != 0:
        last = tail.strip().splitlines()[-1:] or [""]
        raise CommandFailed(
            f"{argv[0]} exited {proc.returncode}: {last[0][:200]}".rstrip(": "), tail
        )
    return CommandResult(0, tail)


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
