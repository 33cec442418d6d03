"""The durable outbox: every event reaches every sink it is for, at least once.

An event is put in the outbox, and the outbox saved, before any sink is tried; it leaves the
outbox only when every sink it is for has accepted it (2xx) or refused it for good (4xx other
than 429: logged and counted as dropped). Each sink has its own worker and takes events in
order, retrying with exponential backoff and jitter (tenacity), honouring `Retry-After`, for as
long as it takes: a restart reloads the outbox and delivers what was queued. Delivery is at
least once; every event carries a unique `id` for receivers to deduplicate. A slow or dead sink
delays nothing else: emitting is a list append, and sinks do not wait for each other. The
outbox is bounded: past its size, the oldest info events go first, then warnings (counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import aiohttp
import tenacity

from failoverd.kit.logs import Logger
from failoverd.kit.metrics import Metrics
from failoverd.kit.tasks import TaskGuard
from failoverd.notify.sinks import SEVERITY, Notice, Refused, Retry, Sink

MAX_OUTBOX = 1000
_RANK = {"info": 0, "warning": 1, "critical": 2}


class OutboxStore(Protocol):
    async def load_outbox(self) -> list[dict[str, Any]]: ...
    async def save_outbox(self, entries: list[dict[str, Any]]) -> None: ...


@dataclass
class Pending:
    notice: Notice
    sinks: list[str]  # the sinks that still owe this event


class Notifier:
    """Takes events from the whole daemon and has every sink deliver them, durably."""

    RETRY_MIN, RETRY_MAX = 1.0, 300.0

    def __init__(
        self,
        sinks: list[Sink],
        store: OutboxStore,
        metrics: Metrics,
        log: Logger,
        wall: Callable[[], float] = time.time,
        max_events: int = MAX_OUTBOX,
        guard: TaskGuard | None = None,
    ) -> None:
        self.sinks, self.store, self.metrics, self.log = sinks, store, metrics, log
        self.guard = guard or TaskGuard(metrics, log)
        self.wall, self.max_events = wall, max_events
        self.pending: list[Pending] = []
        self._wake: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._saving = asyncio.Lock()
        self._dirty = False
        self.changed = asyncio.Condition()  # notified when an event is booked (sent or dropped)

    # ----------------------------------------------------------------- life

    async def start(self) -> None:
        """Reload what a previous run left in the outbox, then start a worker per sink."""
        names = {s.name for s in self.sinks}
        for entry in await self.store.load_outbox():
            with contextlib.suppress(KeyError, TypeError):
                owed = [s for s in entry["sinks"] if s in names]
                if owed:
                    self.pending.append(Pending(Notice(**entry["notice"]), owed))
        if self.pending:
            self.log.warning("notify_outbox_reloaded", events=len(self.pending))
        self._session = aiohttp.ClientSession()
        self._start_workers()

    def _start_workers(self) -> None:
        for sink in self.sinks:
            self._wake[sink.name] = asyncio.Event()
            self._wake[sink.name].set()
            self._workers[sink.name] = asyncio.create_task(
                self._worker(sink), name=f"notify-{sink.name}"
            )
        self._gauge()

    async def _stop_workers(self) -> None:
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()

    async def stop(self) -> None:
        await self._stop_workers()
        await self._save()
        if self._session is not None:
            await self._session.close()

    async def replace_sinks(self, sinks: list[Sink]) -> None:
        """A reload: new sinks; what is owed to a sink that is gone is dropped (counted)."""
        await self._stop_workers()
        names = {s.name for s in sinks}
        for p in self.pending:
            for gone in [s for s in p.sinks if s not in names]:
                self.metrics.notifications.labels(gone, "dropped").inc()
            p.sinks = [s for s in p.sinks if s in names]
        self.pending = [p for p in self.pending if p.sinks]
        self.sinks = sinks
        self._start_workers()

    # ----------------------------------------------------------------- emitting

    def emit(
        self, event: str, service: str, message: str, details: dict[str, Any] | None = None
    ) -> Notice:
        """Queue an event for every sink that takes it; never waits, never raises."""
        notice = Notice(
            uuid.uuid4().hex,
            event,
            service,
            self.wall(),
            SEVERITY.get(event, "warning"),
            message,
            dict(details or {}),
        )
        owed = [s.name for s in self.sinks if s.accepts(event)]
        self.log.warning(
            "notify", notify_event=event, service=service, message=message, id=notice.id, sinks=owed
        )
        if owed:
            self.pending.append(Pending(notice, owed))
            self._bound()
            self._dirty = True
            for name in owed:
                self._wake[name].set()
            self._gauge()
        return notice

    def _bound(self) -> None:
        while len(self.pending) > self.max_events:
            victim = min(self.pending, key=lambda p: _RANK.get(p.notice.severity, 1))
            self.pending.remove(victim)  # the oldest of the least severe
            for sink in victim.sinks:
                self.metrics.notifications.labels(sink, "dropped").inc()
            self.log.error(
                "notify_outbox_full",
                dropped=victim.notice.event,
                id=victim.notice.id,
                limit=self.max_events,
            )

    def _gauge(self) -> None:
        self.metrics.notify_outbox.set(len(self.pending))

    async def _save(self) -> None:
        async with self._saving:
            if not self._dirty:
                return
            self._dirty = False
            entries = [{"notice": asdict(p.notice), "sinks": list(p.sinks)} for p in self.pending]
            try:
                await self.store.save_outbox(entries)
            except OSError as e:
                self._dirty = True  # sent anyway: telling the operators beats keeping a record
                self.log.error("notify_outbox_save_failed", error=str(e))

    # ----------------------------------------------------------------- delivering

    def _next(self, sink: str) -> Pending | None:
        return next((p for p in self.pending if sink in p.sinks), None)

    async def _worker(self, sink: Sink) -> None:
        wake = self._wake[sink.name]
        while True:
            item = self._next(sink.name)
            if item is None:
                wake.clear()
                await wake.wait()
                continue
            await self._save()  # on disk before the first attempt
            try:
                result = await self._deliver(sink, item)
            except Exception as e:  # a bug must not end the worker, nor pass silently
                self.guard.failed(f"notify-{sink.name}", e, survived=True)
                await asyncio.sleep(self.RETRY_MIN)
                continue
            if sink.name in item.sinks:
                item.sinks.remove(sink.name)
                if not item.sinks and item in self.pending:
                    self.pending.remove(item)
                self._dirty = True
                self.metrics.notifications.labels(sink.name, result).inc()
                self._gauge()
                async with self.changed:
                    self.changed.notify_all()

    async def _deliver(self, sink: Sink, item: Pending) -> str:
        """Send one event until the sink takes it ("sent") or refuses it ("dropped")."""
        assert self._session is not None
        retrying = tenacity.AsyncRetrying(
            wait=_RetryAfterOr(
                tenacity.wait_exponential_jitter(
                    multiplier=self.RETRY_MIN, max=self.RETRY_MAX, jitter=self.RETRY_MIN
                )
            ),
            retry=tenacity.retry_if_exception_type(Retry),
            before_sleep=lambda rs: self._retrying(sink, item, rs),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if sink.name not in item.sinks:  # dropped from a full outbox meanwhile
                        return "dropped"
                    answer = await sink.send(self._session, item.notice)
        except Refused as e:
            self.log.error(
                "notify_refused",
                sink=sink.name,
                notify_event=item.notice.event,
                id=item.notice.id,
                answer=str(e),
            )
            return "dropped"
        self.log.info(
            "notify_sent",
            sink=sink.name,
            notify_event=item.notice.event,
            id=item.notice.id,
            answer=answer,
        )
        return "sent"

    def _retrying(self, sink: Sink, item: Pending, rs: tenacity.RetryCallState) -> None:
        self.metrics.notifications.labels(sink.name, "retry").inc()
        error = rs.outcome.exception() if rs.outcome else None
        self.log.warning(
            "notify_retry",
            sink=sink.name,
            notify_event=item.notice.event,
            id=item.notice.id,
            attempt=rs.attempt_number,
            answer=str(error),
            next_in=round(rs.upcoming_sleep, 1),
        )

    async def wait_until(self, done: Callable[[], bool]) -> None:
        """Wait until `done()` holds, checked each time an event is booked."""
        async with self.changed:
            await self.changed.wait_for(done)

    async def test(self, service: str = "-") -> dict[str, dict[str, Any]]:
        """A test event straight to every sink (one attempt each, concurrently): each answer."""
        assert self._session is not None
        notice = Notice(
            uuid.uuid4().hex,
            "test",
            service,
            self.wall(),
            "info",
            "failoverd test event: the wiring works",
            {"host": socket.gethostname()},
        )
        results = await asyncio.gather(*(self._try(s, notice) for s in self.sinks))
        return dict(zip((s.name for s in self.sinks), results, strict=True))

    async def _try(self, sink: Sink, notice: Notice) -> dict[str, Any]:
        assert self._session is not None
        try:
            answer = await sink.send(self._session, notice)
        except (Retry, Refused) as e:
            return {"ok": False, "answer": str(e)}
        return {"ok": True, "answer": answer}


class _RetryAfterOr:
    """tenacity wait: the sink's Retry-After when it gave one, else the fallback's backoff."""

    def __init__(self, fallback: Callable[[tenacity.RetryCallState], float]) -> None:
        self.fallback = fallback

    def __call__(self, rs: tenacity.RetryCallState) -> float:
        error = rs.outcome.exception() if rs.outcome else None
        if isinstance(error, Retry) and error.after is not None:
            return error.after
        return self.fallback(rs)
