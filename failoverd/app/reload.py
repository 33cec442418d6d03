"""SIGHUP: re-read the config and swap in what changed, only if all of it could be built.

Everything the new config needs is built first (runners, notification sinks, cluster
connections); any error leaves the running config untouched (`reload_failed`, and the reason).
A service with a plan in flight keeps its running config until the plan ends (`reload_deferred`:
send SIGHUP again). `api.listen`, `state` and `leader_election` take effect at the next start.
A follower's new runners observe only, whatever the file says.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from failoverd import config
from failoverd.app import preflight
from failoverd.app.control import Control
from failoverd.clients import process
from failoverd.clients.clusters import Clusters
from failoverd.ha.arbiter import Arbiter
from failoverd.kit import logs
from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.kit.tasks import TaskGuard
from failoverd.notify import Notifier, build_sinks
from failoverd.runtime.service import ServiceRunner
from failoverd.store.records import ServiceRecord


class Reloadable(Protocol):
    """What a reload reads of the daemon and swaps in it (app/daemon.py's Daemon)."""

    config_path: Path | None
    cfg: config.Config
    clusters: Clusters
    runners: dict[str, ServiceRunner]
    tasks: dict[str, asyncio.Task[None]]
    reloading: asyncio.Lock
    log: Logger
    metrics: Metrics
    guard: TaskGuard
    notifier: Notifier
    arbiter: Arbiter | None
    control: Control

    def build_runner(
        self, name: str, svc: config.ServiceConfig, clusters: Clusters, follow: bool = False
    ) -> ServiceRunner: ...

    def start_loop(self, name: str) -> None: ...


@dataclass(frozen=True)
class Changes:
    """What a new config changes: services to rebuild, and those whose plan defers it."""

    new: config.Config  # with what waits for a restart put back as it runs
    restart_only: bool  # api.listen, state or leader_election changed (ignored until a restart)
    changed: set[str]
    deferred: set[str]


def changes(
    old: config.Config,
    new: config.Config,
    clusters_changed: bool,
    records: dict[str, ServiceRecord],
) -> Changes:
    """Which services a reload rebuilds; those with a plan or a drill in flight wait (a drill's
    moves run on its runner, and a lost lease or a stop must find them there)."""
    busy = {n for n, r in records.items() if r.plan is not None or r.drill is not None}
    restart_only = (new.state, new.api.listen, new.leader_election) != (
        old.state,
        old.api.listen,
        old.leader_election,
    )
    if restart_only:
        new = new.model_copy(update={"state": old.state, "leader_election": old.leader_election})
    changed = {
        n
        for n in set(old.services) | set(new.services)
        if old.services.get(n) != new.services.get(n) or clusters_changed
    }
    return Changes(new, restart_only, changed, changed & busy)


class Reloader:
    """Runs the daemon's reloads: in a task (never in the signal handler), one at a time."""

    def __init__(self, daemon: Reloadable) -> None:
        self.d = daemon
        self.tasks: set[asyncio.Task[None]] = set()

    def request(self) -> None:
        task = self.d.guard.spawn(self.reload(), "reload")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def reload(self) -> None:
        """Re-read the config; swap in what changed only if all of it could be built."""
        path = self.d.config_path
        if path is None:
            return
        async with self.d.reloading:
            try:
                await self._reload(path)
            except Exception as e:
                self.d.log.error(
                    "reload_failed",
                    path=str(path),
                    error=str(e) or repr(e),
                    kept="the running config",
                )

    async def _reload(self, path: Path) -> None:
        d = self.d
        try:
            new = config.load(path)
            preflight.check(new, path)
        except config.ConfigError as e:
            d.log.error("reload_failed", path=str(path), errors=e.errors, kept="the running config")
            return
        old = d.cfg
        clusters = Clusters(new.clusters) if new.clusters != old.clusters else d.clusters
        records = {n: r.record for n, r in d.runners.items()}
        c = changes(old, new, clusters is not d.clusters, records)
        if c.restart_only:
            d.log.warning(
                "reload_partial",
                detail="api.listen, state and leader_election changes take effect at the next "
                "restart; the API token is re-read now",
            )
        rebuild = c.changed - c.deferred
        built: dict[str, ServiceRunner] = {}
        try:  # build everything first: any error leaves the running config untouched
            sinks = build_sinks(c.new.notify) if c.new.notify != old.notify else None
            follow = not d.control.leading  # a follower's runners observe only
            for name in sorted(rebuild):
                if name in c.new.services:
                    built[name] = d.build_runner(name, c.new.services[name], clusters, follow)
        except BaseException:
            if clusters is not d.clusters:
                await clusters.close()
            raise
        process.hide(c.new.secret_env_names())
        if sinks is not None:
            await d.notifier.replace_sinks(sinks)
        await self._swap(built, rebuild, c.deferred, clusters)
        kept = {n: old.services[n] for n in c.deferred if n in old.services}
        d.cfg = c.new.model_copy(update={"services": {**c.new.services, **kept}})
        d.metrics.known(d.cfg)
        if d.arbiter is not None:
            d.arbiter.services = list(d.cfg.services)
        logs.configure(c.new.log.format, c.new.log.level)
        d.log.info(
            "reloaded",
            path=str(path),
            services=sorted(d.runners),
            changed=sorted(rebuild),
            deferred=sorted(c.deferred),
        )

    async def _swap(
        self,
        built: dict[str, ServiceRunner],
        changed: set[str],
        deferred: set[str],
        clusters: Clusters,
    ) -> None:
        d = self.d
        for name in sorted(deferred):
            d.log.warning(
                "reload_deferred",
                service=name,
                detail="a plan or drill is in flight: send SIGHUP again after it finishes",
            )
        for name in sorted(changed):
            old = d.runners.get(name)
            if old is not None:
                old.loop_stopping.set()  # finish the round in flight, start no new one
                task = d.tasks.get(name)
                if task is not None:
                    await asyncio.gather(task, return_exceptions=True)
                    d.tasks.pop(name, None)  # after it ended: /healthz never sees it missing
                if old.record.plan is not None or old.record.drill is not None:
                    # a plan or a drill started while the reload waited: it runs on here
                    d.log.warning(
                        "reload_deferred",
                        service=name,
                        detail="a plan or drill started during the reload",
                    )
                    old.loop_stopping.clear()
                    d.start_loop(name)
                    continue
            if name in built:
                d.runners[name] = built[name]
                d.start_loop(name)
            else:  # removed from the config: nothing of it is watched any more
                d.runners.pop(name, None)
                d.guard.forget(name)
        if clusters is not d.clusters:
            previous, d.clusters = d.clusters, clusters
            await previous.close()
