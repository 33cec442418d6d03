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
import functools
import signal
from pathlib import Path

import aiohttp

from failoverd import config, machine, probes, replication, traffic
from failoverd.app import gc_tuning, preflight, sdnotify
from failoverd.app.api import ApiServer, make_app
from failoverd.app.control import DaemonControl
from failoverd.clients import process
from failoverd.clients.clusters import Clusters
from failoverd.drill import DrillDesk
from failoverd.ha.arbiter import Arbiter
from failoverd.ha.elector import identity
from failoverd.kit import logs
from failoverd.kit.clock import SYSTEM, Clock
from failoverd.kit.metrics import Metrics
from failoverd.machine import SIDES
from failoverd.notify import Notifier, build_sinks
from failoverd.plans.steps import StepBook
from failoverd.replication.scheduler import Scheduler
from failoverd.runtime.probing import BoundProbe
from failoverd.runtime.service import ServiceRunner
from failoverd.store import FileStore, ServiceRecord, StateStore
from failoverd.store.audit import AuditLog
from failoverd.store.persist import ServicePersistence

ADOPT_DEADLINE = 10.0  # seconds for asking every switch where traffic points, all together


class Daemon(DaemonControl):
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
        self.stop_event = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.clusters = Clusters(cfg.clusters)
        self.store: StateStore = FileStore(cfg.state.path)
        self._reloading = asyncio.Lock()
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
                lock=self._reloading,
            )
            self.store = self.arbiter.store
        self.api: ApiServer | None = None
        self.started = False
        self.audit = AuditLog(self.store, self.log, clock.wall)
        self.notifier = Notifier(
            build_sinks(cfg.notify), self.store, self.metrics, self.log, wall=clock.wall
        )
        self.drill_desk = DrillDesk(self.metrics, self.notifier, self.audit, clock, self.log)
        self._reloads: set[asyncio.Task[None]] = set()

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

    def _build_runner(
        self, name: str, svc: config.ServiceConfig, clusters: Clusters, follow: bool = False
    ) -> ServiceRunner:
        """A service's runner; a follower's observes only (no plans, jobs or notifications)."""
        assert self.session is not None
        if follow:
            svc = svc.model_copy(update={"observe_only": True})
        bound = {
            side: self._bind(
                svc.probes.of(side), probes.ProbeContext(self.session, clusters, name, side)
            )
            for side in SIDES
        }
        persistence = self._persistence(name, follow)
        record = persistence.record
        switch = traffic.build(svc.traffic)
        scheduler = None
        if svc.replication and not svc.observe_only:
            jobs = {
                job: replication.build(spec, replication.JobContext(name, job, svc.mode, clusters))
                for job, spec in svc.replication.items()
            }
            scheduler = Scheduler(
                name,
                svc.replication,
                jobs,
                record.replication,
                metrics=self.metrics,
                log=self.log,
                objective_rpo=svc.objectives.rpo,
                clock=self.clock,
                on_change=persistence.request,
                notify=self.notifier.emit,
                may_run=lambda: machine.may_replicate(record.machine, record.plan is not None),
            )
        steps = StepBook(
            name,
            svc,
            switch,
            clusters,
            self.clock,
            catch_up=scheduler.catch_up if scheduler else None,
            rpo=scheduler.rpo if scheduler else _no_rpo,
        )
        runner = ServiceRunner(
            name,
            svc,
            record,
            bound,
            switch,
            steps,
            replication=scheduler,
            metrics=self.metrics,
            persistence=persistence,
            log=self.log,
            clock=self.clock,
            notify=self.notifier.emit,
            audit=self.audit.record,
            give_way=functools.partial(self.drill_desk.give_way, name),
        )
        if self.arbiter is not None:  # no plan step starts unless it fits in the lease
            runner.plans.gate = self.arbiter.elector.wait_for
        return runner

    @staticmethod
    def _bind(specs: list[config.ProbeSpec], ctx: probes.ProbeContext) -> list[BoundProbe]:
        labels = config.probe_labels(specs)
        return [
            BoundProbe(
                label,
                probes.build(s, ctx),
                s.spec.timeout,
                s.spec.role == "cluster",
                witness=s.kind == "witness",
            )
            for label, s in zip(labels, specs, strict=True)
        ]

    def _start_loop(self, name: str) -> None:
        task = asyncio.create_task(self.runners[name].run(), name=f"rounds-{name}")
        task.add_done_callback(self._loop_ended)
        self.tasks[name] = task

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        """A round loop only ends when asked to: anything else is logged, counted and unhealthy."""
        if task.cancelled() or self.stop_event.is_set():
            return
        error = task.exception()
        if error is None:
            return  # stopped for a reload
        self.metrics.task_failures.labels(task.get_name()).inc()
        self.log.error(
            "task_failed",
            task=task.get_name(),
            error=repr(error),
            exc_info=(type(error), error, error.__traceback__),
        )

    # ----------------------------------------------------------------- life cycle

    async def start(self) -> None:
        process.hide(self.cfg.secret_env_names())
        self.metrics.known(self.cfg)  # every counter at 0 before the first scrape
        try:
            self.session = probes.session()
            if self.arbiter is None:
                self.records = await self.store.open(list(self.cfg.services))
                await self._take_charge()
            else:  # a follower until elected: its own view, observe-only, nothing written
                self.records = await self.arbiter.peek()
                for name, svc in self.cfg.services.items():
                    self.runners[name] = self._build_runner(name, svc, self.clusters, follow=True)
            host, port = self.cfg.api.host_port
            self.api = ApiServer(
                make_app(
                    self,
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
            self._start_loop(name)
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
            self.runners[name] = self._build_runner(name, svc, self.clusters)
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

    async def _lead(self, records: dict[str, ServiceRecord]) -> None:
        self.records = records
        await self._take_charge()
        for name in self.runners:
            self._start_loop(name)

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
        for reload in self._reloads:
            reload.cancel()
        await asyncio.gather(*self._reloads, return_exceptions=True)
        if self.leading and self.exit_code == 0:
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

    def request_reload(self) -> None:
        """SIGHUP: reload in a task (never inside the signal handler), one reload at a time."""
        task = asyncio.create_task(self.reload(), name="reload")
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def reload(self) -> None:
        """Re-read the config; swap in what changed only if all of it could be built."""
        if self.config_path is None:
            return
        async with self._reloading:
            try:
                await self._reload(self.config_path)
            except Exception as e:
                self.log.error(
                    "reload_failed",
                    path=str(self.config_path),
                    error=str(e) or repr(e),
                    kept="the running config",
                )

    async def _reload(self, path: Path) -> None:
        try:
            new = config.load(path)
            preflight.check(new, path)
        except config.ConfigError as e:
            self.log.error(
                "reload_failed", path=str(path), errors=e.errors, kept="the running config"
            )
            return
        old = self.cfg
        if (new.state, new.api.listen, new.leader_election) != (
            old.state,
            old.api.listen,
            old.leader_election,
        ):
            self.log.warning(
                "reload_partial",
                detail="api.listen, state and leader_election "
                "changes take effect at the next restart; the API token is re-read "
                "now",
            )
            new = new.model_copy(
                update={"state": old.state, "leader_election": old.leader_election}
            )
        clusters = Clusters(new.clusters) if new.clusters != old.clusters else self.clusters
        changed = {
            n
            for n in set(old.services) | set(new.services)
            if old.services.get(n) != new.services.get(n) or clusters is not self.clusters
        }
        deferred = {n for n in changed if n in self.runners and self.runners[n].record.plan}
        built: dict[str, ServiceRunner] = {}
        try:  # build everything first: any error leaves the running config untouched
            sinks = build_sinks(new.notify) if new.notify != old.notify else None
            follow = not self.leading  # a follower's runners observe only, whatever the file says
            for name in sorted(changed - deferred):
                if name in new.services:
                    built[name] = self._build_runner(name, new.services[name], clusters, follow)
        except BaseException:
            if clusters is not self.clusters:
                await clusters.close()
            raise
        process.hide(new.secret_env_names())
        if sinks is not None:
            await self.notifier.replace_sinks(sinks)
        await self._swap(built, changed - deferred, deferred, clusters)
        self.cfg = new.model_copy(
            update={
                "services": {
                    **new.services,
                    **{n: old.services[n] for n in deferred if n in old.services},
                }
            }
        )
        self.metrics.known(self.cfg)
        if self.arbiter is not None:
            self.arbiter.services = list(self.cfg.services)
        logs.configure(new.log.format, new.log.level)
        self.log.info(
            "reloaded",
            path=str(path),
            services=sorted(self.runners),
            changed=sorted(changed - deferred),
            deferred=sorted(deferred),
        )

    async def _swap(
        self,
        built: dict[str, ServiceRunner],
        changed: set[str],
        deferred: set[str],
        clusters: Clusters,
    ) -> None:
        for name in sorted(deferred):
            self.log.warning(
                "reload_deferred",
                service=name,
                detail="a plan is in flight: send SIGHUP again after it finishes",
            )
        for name in sorted(changed):
            old = self.runners.get(name)
            if old is not None:
                old.loop_stopping.set()  # finish the round in flight, start no new one
                task = self.tasks.pop(name, None)
                if task is not None:
                    await asyncio.gather(task, return_exceptions=True)
                if old.record.plan is not None:  # the last round started a plan: it runs on
                    self.log.warning(
                        "reload_deferred", service=name, detail="a plan started during the reload"
                    )
                    old.loop_stopping.clear()
                    self._start_loop(name)
                    continue
            if name in built:
                self.runners[name] = built[name]
                self._start_loop(name)
            else:
                self.runners.pop(name, None)
        if clusters is not self.clusters:
            previous, self.clusters = self.clusters, clusters
            await previous.close()

    async def run_forever(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        await self.start()
        first_rounds = 2 * max(s.policy.interval for s in self.cfg.services.values()) + 1.0
        tidy = asyncio.create_task(gc_tuning.keep_tidy(self.stop_event, first_rounds), name="gc")
        tidy.add_done_callback(self._loop_ended)
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
        self.log.info("stopped", exit_code=self.exit_code)
        return self.exit_code


def _no_rpo(now: float) -> tuple[float | None, dict[str, float | None]]:
    return None, {}


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
