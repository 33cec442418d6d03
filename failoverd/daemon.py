"""The composition root: the one place that knows every part and wires them together.

It owns the event loop's life: locks and loads the state file, builds probes and switches from
the config, adopts what the traffic already says or resumes a journaled plan, starts the API and
one round loop per service, and handles signals: SIGTERM/SIGINT finish the step in flight,
persist and exit 0; SIGHUP reloads the config and keeps the running one if the new one is bad.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp

from failoverd import config, logs, machine, probes, replication, sdnotify, traffic
from failoverd.api import ApiServer, make_app
from failoverd.clock import SYSTEM, Clock
from failoverd.kube import Clusters
from failoverd.machine import SIDES, Command, Decision
from failoverd.metrics import Metrics
from failoverd.replication.scheduler import Scheduler
from failoverd.rounds import BoundProbe
from failoverd.service import ServiceRunner
from failoverd.steps import StepBook
from failoverd.store import ServiceRecord, Store
from failoverd.store.codec import event_to_dict


class Daemon:
    def __init__(
        self,
        cfg: config.Config,
        config_path: Path | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        self.cfg, self.config_path, self.clock = cfg, config_path, clock
        self.metrics = Metrics()
        self.store = Store(cfg.state.path)
        self.records: dict[str, ServiceRecord] = {}
        self.runners: dict[str, ServiceRunner] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.log = logs.get()
        self.stop_event = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.clusters = Clusters(cfg.clusters)
        self.api: ApiServer | None = None
        self.started = False

    # ----------------------------------------------------------------- Control (for the API)

    @property
    def ready(self) -> bool:
        return self.started and all(r.rounds > 0 for r in self.runners.values())

    def status(self) -> dict[str, Any]:
        return {"leader": True, "services": {n: r.status() for n, r in self.runners.items()}}

    def events(self, limit: int) -> list[dict[str, Any]]:
        merged = [e for rec in self.records.values() for e in rec.history]
        return [
            event_to_dict(e) for e in sorted(merged, key=lambda e: e.time, reverse=True)[:limit]
        ]

    def command(self, service: str, command: Command, reason: str) -> Decision | None:
        runner = self.runners.get(service)
        if runner is None:
            return None
        self.log.warning("operator_command", service=service, command=command, reason=reason)
        return runner.command(command, reason)

    # ----------------------------------------------------------------- wiring

    def persist(self) -> None:
        self.store.save(self.records)

    def _build_runner(self, name: str, svc: config.ServiceConfig) -> ServiceRunner:
        assert self.session is not None
        ctx = probes.ProbeContext(self.session, self.clusters)
        bound = {side: self._bind(svc.probes.of(side), ctx) for side in SIDES}
        record = self.records.setdefault(name, ServiceRecord())
        switch = traffic.build(svc.traffic)
        scheduler = None
        if svc.replication:
            jobs = {
                job: replication.build(
                    spec, replication.JobContext(name, job, svc.mode, self.clusters)
                )
                for job, spec in svc.replication.items()
            }
            scheduler = Scheduler(
                name, svc.replication, jobs, record.replication, metrics=self.metrics, log=self.log,
                objective_rpo=svc.objectives.rpo, clock=self.clock,
                may_run=lambda: machine.may_replicate(record.machine, record.plan is not None),
            )  # fmt: skip
        steps = StepBook(
            name, svc, switch, self.clusters, self.clock,
            rpo=scheduler.rpo if scheduler else _no_rpo,
        )  # fmt: skip
        return ServiceRunner(
            name, svc, record, bound, switch, steps, replication=scheduler,
            metrics=self.metrics, persist=self.persist, log=self.log, clock=self.clock,
        )  # fmt: skip

    @staticmethod
    def _bind(specs: list[config.ProbeSpec], ctx: probes.ProbeContext) -> list[BoundProbe]:
        labels = config.probe_labels(specs)
        return [
            BoundProbe(label, probes.build(s, ctx), s.spec.timeout, s.spec.role == "cluster")
            for label, s in zip(labels, specs, strict=True)
        ]

    def _start_loop(self, name: str) -> None:
        self.tasks[name] = asyncio.create_task(self.runners[name].run(), name=f"rounds-{name}")

    # ----------------------------------------------------------------- life cycle

    async def start(self) -> None:
        self.store.lock()
        try:
            self.records = self.store.load()
            self.session = probes.session()
            for name, svc in self.cfg.services.items():
                self.runners[name] = self._build_runner(name, svc)
            for runner in self.runners.values():
                await runner.adopt()
            self.persist()
            host, port = self.cfg.api.host_port
            self.api = ApiServer(
                make_app(self, self.metrics, lambda: self.cfg.api.token), host, port
            )
            await self.api.start()
        except BaseException:
            await self.close()
            raise
        self.metrics.leader.set(1)
        for name in self.runners:
            self._start_loop(name)
        self.started = True
        self.log.info(
            "started",
            services=sorted(self.runners),
            api=self.cfg.api.listen,
            pid_state=str(self.cfg.state.path),
        )

    async def stop(self) -> None:
        """Finish the plan steps in flight, persist, release everything."""
        await asyncio.gather(*(r.stop() for r in self.runners.values()))
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.persist()
        await self.close()

    async def close(self) -> None:
        if self.api is not None:
            await self.api.stop()
        if self.session is not None:
            await self.session.close()
        await self.clusters.close()
        self.store.unlock()

    def reload(self) -> None:
        """Re-read the config file; on any error keep running the old config."""
        if self.config_path is None:
            return
        try:
            new = config.load(self.config_path)
        except config.ConfigError as e:
            self.log.error(
                "reload_failed",
                path=str(self.config_path),
                errors=e.errors,
                kept="the running config",
            )
            return
        if (new.api, new.state) != (self.cfg.api, self.cfg.state):
            self.log.warning(
                "reload_partial", detail="api and state changes take effect at the next restart"
            )
            new = new.model_copy(update={"api": self.cfg.api, "state": self.cfg.state})
        logs.configure(new.log.format, new.log.level)
        old, self.cfg = self.cfg, new
        for name in set(old.services) | set(new.services):
            if old.services.get(name) == new.services.get(name):
                continue
            running = self.runners.get(name)
            if running is not None and running.record.plan is not None:
                self.log.warning("reload_deferred", service=name, detail="a plan is in flight: "
                                 "send SIGHUP again after it finishes")  # fmt: skip
                new.services[name] = (
                    old.services[name] if name in old.services else new.services[name]
                )
                continue
            task = self.tasks.pop(name, None)
            if task is not None:
                self.runners[name].stopping.set()
            if name in new.services:
                self.runners[name] = self._build_runner(name, new.services[name])
                self._start_loop(name)
            else:
                self.runners.pop(name, None)
        self.log.info("reloaded", path=str(self.config_path), services=sorted(self.runners))

    async def run_forever(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        await self.start()
        sdnotify.notify("READY=1")
        watchdog = sdnotify.watchdog_interval()
        while not self.stop_event.is_set():
            try:
                await asyncio.wait_for(self.stop_event.wait(), watchdog or 3600)
            except TimeoutError:
                sdnotify.notify("WATCHDOG=1")
        sdnotify.notify("STOPPING=1")
        self.log.info("stopping", reason="signal")
        await self.stop()
        self.log.info("stopped")
        return 0


def _no_rpo(now: float) -> tuple[float | None, dict[str, float | None]]:
    return None, {}


def run(cfg: config.Config, config_path: Path | None) -> int:
    logs.configure(cfg.log.format, cfg.log.level)
    return asyncio.run(Daemon(cfg, config_path).run_forever())
