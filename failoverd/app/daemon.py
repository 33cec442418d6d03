"""The composition root: the one place that knows every part and wires them together.

It owns the event loop's life: locks and loads the state, builds probes and switches from the
config, asks every switch where traffic points (concurrently, under one deadline) or resumes a
journaled plan, starts the API and one supervised round loop per service, and handles signals:
SIGTERM/SIGINT finish the step in flight, save and exit 0; SIGHUP builds everything the new
config needs first and swaps it in only if all of it built (else it keeps the running config).

With leader_election (the arbiter cluster), every replica probes and serves the API, but only
the lease's holder acts: a follower runs observe-only loops and writes nothing; when elected it
claims the state in the cluster with its epoch, resumes any journaled plan and acts. A leader
that loses the lease cancels what it was doing at once and exits 1 (Kubernetes restarts it as a
follower); one that is stopped finishes its step, saves and releases the lease.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from failoverd import config, probes
from failoverd.app import gc_tuning, sdnotify
from failoverd.app.api import ApiServer, make_app
from failoverd.app.control import Control
from failoverd.app.reload import Reloader
from failoverd.clients import process
from failoverd.clients.clusters import Clusters
from failoverd.drill import DrillDesk
from failoverd.ha.arbiter import Arbiter
from failoverd.ha.elector import identity
from failoverd.kit import logs
from failoverd.kit.clock import SYSTEM, Clock
from failoverd.kit.metrics import Metrics
from failoverd.kit.tasks import TaskGuard
from failoverd.notify import Notifier, build_sinks
from failoverd.runtime.build import RunnerFactory
from failoverd.runtime.service import ServiceRunner
from failoverd.store import FileStore, ServiceRecord, StateStore
from failoverd.store.audit import AuditLog
from failoverd.store.persist import ServicePersistence

ADOPT_DEADLINE = 10.0  # seconds for asking every switch where traffic points, all together


class Daemon:
    def __init__(
        self,
        cfg: config.Config,
        config_path: Path | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        self.cfg, self.config_path, self.clock = cfg, config_path, clock
        self.metrics = Metrics()
        self.me = identity()
        self.exit_code = 0
        self.records: dict[str, ServiceRecord] = {}
        self.persistence: dict[str, ServicePersistence] = {}
        self.runners: dict[str, ServiceRunner] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.log = logs.get()
        self.guard = TaskGuard(self.metrics, self.log)
        self.stop_event = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.clusters = Clusters(cfg.clusters)
        self.store: StateStore = FileStore(cfg.state.path)
        self.reloading = asyncio.Lock()  # a reload and a takeover never interleave
        self.arbiter: Arbiter | None = None
        if cfg.leader_election is not None:
            self.arbiter = Arbiter(
                cfg,
                lambda: self.clusters,
                self.me,
                metrics=self.metrics,
                log=self.log,
                wall=clock.wall,
                stop_following=self._stop_following,
                take_charge=self._lead,
                stop_acting=self._stop_acting,
                notify=lambda *a: self.notifier.emit(*a),
                lock=self.reloading,
                guard=self.guard,
            )
            self.store = self.arbiter.store
        self.api: ApiServer | None = None
        self.started = False
        self.audit = AuditLog(self.store, self.log, clock.wall)
        self.notifier = Notifier(
            build_sinks(cfg.notify),
            self.store,
            self.metrics,
            self.log,
            wall=clock.wall,
            guard=self.guard,
        )
        self.drill_desk = DrillDesk(self.metrics, self.notifier, self.audit, clock, self.log)
        self.factory: RunnerFactory | None = None  # once the HTTP session exists
        self.control = Control(
            self.runners,
            self.records,
            self.tasks,
            self.arbiter,
            self.audit,
            self.drill_desk,
            self.notifier,
            self.metrics,
            self.guard,
            clock,
            self.log,
            self.me,
            started=lambda: self.started,
        )
        self.reloader = Reloader(self)

    # ----------------------------------------------------------------- wiring

    def _persistence(self, name: str, follow: bool = False) -> ServicePersistence:
        if name not in self.persistence:
            record = self.records.setdefault(name, ServiceRecord())
            self.persistence[name] = ServicePersistence(
                name,
                record,
                _NOWHERE if follow else self.store,
                self.metrics,
                self.log.bind(service=name),
            )
        return self.persistence[name]

    def build_runner(
        self, name: str, svc: config.ServiceConfig, clusters: Clusters, follow: bool = False
    ) -> ServiceRunner:
        """A service's runner (runtime/build.py); a follower's observes only."""
        assert self.factory is not None
        return self.factory.build(name, svc, clusters, self._persistence(name, follow), follow)

    def start_loop(self, name: str) -> None:
        """A round loop only ends when asked to: anything else is logged, counted, unhealthy."""
        self.tasks[name] = self.guard.spawn(
            self.runners[name].run(), f"rounds-{name}", expected=self.stop_event.is_set
        )

    # ----------------------------------------------------------------- life cycle

    async def start(self) -> None:
        process.hide(self.cfg.secret_env_names())
        self.metrics.known(self.cfg)  # every counter at 0 before the first scrape
        try:
            self.session = probes.session()
            self.factory = RunnerFactory(
                self.session,
                self.metrics,
                self.log,
                self.clock,
                self.guard,
                notify=self.notifier.emit,
                audit=self.audit.record,
                give_way=self.drill_desk.give_way,
                gate=self.arbiter.elector.wait_for if self.arbiter is not None else None,
            )
            if self.arbiter is None:
                self._keep(await self.store.open(list(self.cfg.services)))
                await self._take_charge()
            else:  # a follower until elected: its own view, observe-only, nothing written
                self._keep(await self.arbiter.peek())
                for name, svc in self.cfg.services.items():
                    self.runners[name] = self.build_runner(name, svc, self.clusters, follow=True)
            host, port = self.cfg.api.host_port
            self.api = ApiServer(
                make_app(
                    self.control,
                    self.metrics,
                    lambda: self.cfg.api.tokens,
                    lambda: self.cfg.api.allowed_hosts,
                ),
                host,
                port,
            )
            await self.api.start()
        except BaseException:
            await self.close()
            raise
        for name in self.runners:
            self.start_loop(name)
        if self.arbiter is None:
            self.metrics.leader.set(1)
        else:
            self.arbiter.start()
        self.started = True
        self.log.info(
            "started",
            services=sorted(self.runners),
            api=self.cfg.api.listen,
            state=self.store.where,
            identity=self.me if self.arbiter else None,
        )

    async def _take_charge(self) -> None:
        """Act on the loaded state: resume plans, adopt where traffic points, deliver."""
        await self.audit.load()
        await self.notifier.start()
        for name, svc in self.cfg.services.items():
            self.runners[name] = self.build_runner(name, svc, self.clusters)
        await asyncio.gather(*(r.adopt(ADOPT_DEADLINE) for r in self.runners.values()))
        await self.drill_desk.cut_short(self.runners)
        self.drill_desk.last_successes(self.records)
        await asyncio.gather(*(p.flush() for p in self.persistence.values()))

    # ----------------------------------------------------------------- the arbiter cluster

    async def _stop_following(self) -> None:
        for runner in self.runners.values():
            runner.loop_stopping.set()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        self.runners.clear()
        self.persistence.clear()

    def _keep(self, records: dict[str, ServiceRecord]) -> None:
        """The records loaded or claimed (the same dict the API reads, refilled)."""
        self.records.clear()
        self.records.update(records)

    async def _lead(self, records: dict[str, ServiceRecord]) -> None:
        self._keep(records)
        await self._take_charge()
        for name in self.runners:
            self.start_loop(name)

    def _stop_acting(self, why: str) -> None:
        """Lease lost: cancel plans mid-step (each step is idempotent), jobs and loops; exit 1."""
        self.exit_code = 1
        self.log.error("stop_acting", reason=why, detail="exiting 1: restarted as a follower")
        self.drill_desk.abandon()  # no drill puts anything back: the new leader does
        for runner in self.runners.values():
            runner.stopping.set()
            runner.loop_stopping.set()
            if runner.plans.task is not None:
                runner.plans.task.cancel()
            if runner.replication is not None:
                runner.replication.halt_now()
        for task in self.tasks.values():
            task.cancel()
        self.stop_event.set()

    async def stop(self) -> None:
        """Finish the plan steps in flight, save, release everything (the lease last)."""
        await self.drill_desk.cancel()
        if self.exit_code == 0:  # a deposed leader's plans were cancelled: nothing to finish
            await asyncio.gather(*(r.stop() for r in self.runners.values()))
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.reloader.cancel()
        if self.control.leading and self.exit_code == 0:
            for name, p in self.persistence.items():
                if not await p.flush():
                    self.log.error("final_save_failed", service=name, error=p.error)
            await self.audit.flush()
        await self.notifier.stop()
        if self.arbiter is not None:
            await self.arbiter.stop()
        await self.close()

    async def close(self) -> None:
        if not self.started:
            await self.notifier.stop()
        if self.api is not None:
            await self.api.stop()
        if self.session is not None:
            await self.session.close()
        await self.store.close()
        await self.clusters.close()

    async def run_forever(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, self.reloader.request)
        await self.start()
        first_rounds = 2 * max(s.policy.interval for s in self.cfg.services.values()) + 1.0
        tidy = self.guard.spawn(
            gc_tuning.keep_tidy(self.stop_event, first_rounds), "gc", critical=False
        )
        sdnotify.notify("READY=1")
        watchdog = sdnotify.watchdog_interval()
        while not self.stop_event.is_set():
            try:
                await asyncio.wait_for(self.stop_event.wait(), watchdog or 3600)
            except TimeoutError:
                # the watchdog says the loop turns; a service's trouble is /healthz's to report
                # (a restart would not fix a full disk, and would interrupt a plan waiting on it)
                sdnotify.notify("WATCHDOG=1")
        sdnotify.notify("STOPPING=1")
        self.log.info("stopping", reason="signal")
        await self.stop()
        await asyncio.gather(tidy, return_exceptions=True)
        self.log.info("stopped", exit_code=self.exit_code)
        return self.exit_code


class _Nowhere:
    """Where a follower's records go: nowhere (only the leader writes the state)."""

    async def save(self, name: str, record: ServiceRecord) -> None:
        return None


_NOWHERE = _Nowhere()


def run(cfg: config.Config, config_path: Path | None) -> int:
    """Run the daemon; on uvloop when it is installed (`pip install 'failoverd[fast]'`)."""
    logs.configure(cfg.log.format, cfg.log.level)
    gc_tuning.tune()  # the collector out of the probes' way (gc_tuning.py says why)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(Daemon(cfg, config_path).run_forever())
    logs.get().debug("event_loop", loop="uvloop")
    code: int = uvloop.run(Daemon(cfg, config_path).run_forever())
    return code
