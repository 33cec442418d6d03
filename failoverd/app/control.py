"""What the API asks of the daemon (api.Control): status, views, commands, drills, audit.

Composed by the daemon from its parts and handed to the API. A follower (a replica without the
lease) answers every read with its own view (the leader's state of each service as last read)
and refuses every command with the leader's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from failoverd.app.api import OperatorCommand
from failoverd.kit.errors import Refused
from failoverd.machine import Decision
from failoverd.runtime import views
from failoverd.store.codec import event_to_dict

if TYPE_CHECKING:
    from failoverd.drill import DrillDesk
    from failoverd.ha.arbiter import Arbiter
    from failoverd.kit.clock import Clock
    from failoverd.kit.logs import Logger
    from failoverd.kit.metrics import Metrics
    from failoverd.kit.tasks import TaskGuard
    from failoverd.notify import Notifier
    from failoverd.runtime.service import ServiceRunner
    from failoverd.store import ServiceRecord
    from failoverd.store.audit import AuditLog


@dataclass(frozen=True)
class Control:
    """The daemon's parts the API reads and commands (the dicts are the daemon's own, live)."""

    runners: dict[str, ServiceRunner]
    records: dict[str, ServiceRecord]
    tasks: dict[str, asyncio.Task[None]]
    arbiter: Arbiter | None
    audit: AuditLog
    drill_desk: DrillDesk
    notifier: Notifier
    metrics: Metrics
    guard: TaskGuard
    clock: Clock
    log: Logger
    me: str
    started: Callable[[], bool]

    @property
    def ready(self) -> bool:
        """Every service has probed (leader or not: a follower is a ready standby)."""
        return self.started() and all(r.rounds > 0 for r in self.runners.values())

    def health(self) -> list[str]:
        """Every reason this daemon is not watching what it should ([] when all is well)."""
        if not self.started():
            return []
        now = self.clock.monotonic()
        problems = []
        for name, runner in sorted(self.runners.items()):
            task = self.tasks.get(name)
            if task is None or task.done():
                problems.append(f"{name}: the round loop is not running")
            problems += [f"{name}: {p}" for p in runner.health(now)]
        problems += self.guard.problems()
        self.metrics.healthy.set(0 if problems else 1)
        return problems

    def view(self, service: str) -> dict[str, Any] | None:
        runner = self.runners.get(service)
        return None if runner is None else runner.view()

    @property
    def leading(self) -> bool:
        return self.arbiter is None or self.arbiter.leading

    def status(self) -> dict[str, Any]:
        lease = self.arbiter.status() if self.arbiter else None
        services = {n: r.status() for n, r in self.runners.items()}
        if self.arbiter is not None and not self.leading:  # the leader's state, own probes
            lease = {**(lease or {}), "state_read_at": self.arbiter.seen_at}
            for name, rec in self.arbiter.seen.items():
                if name in services:
                    services[name] |= views.leader_state(rec)
        return {"leader": self.leading, "lease": lease, "services": services}

    def events(self, limit: int) -> list[dict[str, Any]]:
        merged = [e for rec in self.records.values() for e in rec.history]
        return [
            event_to_dict(e) for e in sorted(merged, key=lambda e: e.time, reverse=True)[:limit]
        ]

    def command(self, cmd: OperatorCommand) -> Decision | None:
        runner = self.runners.get(cmd.service)
        if runner is not None and not self.leading:
            holder = self.arbiter.elector.holder if self.arbiter else None
            return Decision(
                runner.record.machine,
                (),
                f"this replica ({self.me}) is not the "
                f"leader; send it to the leader ({holder or 'none yet'})",
                rejected=True,
            )
        self.log.warning(
            "operator_command",
            service=cmd.service,
            command=cmd.command,
            reason=cmd.reason,
            force=cmd.force,
            who=cmd.who,
            client=cmd.client,
        )
        decision = (
            None
            if runner is None
            else runner.command(cmd.command, cmd.reason, cmd.force, cmd.pause_for)
        )
        return decision  # audited by the API with its answer (api.Routes.audited)

    def drill(self, service: str, kind: str, reason: str, soak: float) -> str:
        if not self.leading:
            raise Refused(f"this replica ({self.me}) is not the leader: ask the leader")
        return self.drill_desk.start(self.runners.get(service), service, kind, reason, soak)

    def drill_reports(self, drill_id: str | None = None) -> list[dict[str, Any]]:
        return self.drill_desk.reports(self.records, drill_id)

    def explain(self, service: str) -> dict[str, Any] | None:
        runner = self.runners.get(service)
        if runner is None:
            return None
        return {"service": service, "decision": runner.last_explain}

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        return self.audit.newest(limit)

    def record_post(
        self, who: str, action: str, service: str, result: str, persist: bool = True, **fields: Any
    ) -> None:
        # a follower keeps its refusals in memory (and logs them): the state is the leader's;
        # so are requests no valid token stands behind (kept in memory and logged, not saved)
        persist = persist and self.leading
        self.audit.record(who, action, service, result, persist=persist, **fields)
        if not persist:
            self.log.info(
                "audit",
                who=who,
                action=action,
                service=service,
                result=result,
                client=fields.get("client"),
                status=fields.get("status"),
            )

    async def notify_test(self) -> dict[str, dict[str, Any]]:
        if not self.leading:
            return {"(this replica)": {"ok": False, "error": "not the leader: ask the leader"}}
        self.log.warning("operator_command", command="notify-test")
        return await self.notifier.test()
