"""The arbiter cluster's store: the state in ConfigMaps, written only by the lease's holder.

One ConfigMap per service (`NAME-svc-SERVICE`, key `record.json`), so a transition rewrites
one small object and none nears the 1 MiB limit; `NAME-outbox` holds the notifications not yet
delivered and `NAME-audit` the newest audit lines (bounded by size). Every write is a PUT
conditional on the resourceVersion this process last saw, and carries the writer's lease epoch
in an annotation. A leader claims every service's ConfigMap when it is elected (a write with
its new epoch), so a deposed leader's next write meets a 409, reads the object, finds another
epoch and stops (`Deposed`). A 409 from our own write whose answer was lost (same epoch) is
retried on the fresh resourceVersion. The rules (which epoch a claim takes, what a 409 means)
are machine/lease.py's; this module is their I/O:

- The claim's epoch is above every epoch in the state, not only the Lease's count: a Lease
  deleted and created again counts from 1 again, and the Lease is raised to match.
- A claim whose write meets a 409 re-reads the object and, if an older leader wrote it after
  we read it, claims it *as it now is*: that write is the newest journal (a step it finished),
  and the new leader resumes from it, never from its stale copy.
- Every write is bounded by the time left on the lease (at most REQUEST_TIMEOUT): a write
  cannot still be in flight when this leader must have stopped acting.
- RBAC refusing a verb (403) is `AccessDenied`, naming the ConfigMap and the verb: at start-up
  (the first read) it stops the daemon with exit 2, at a takeover it fails the takeover.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from failoverd.kit.errors import ActionError, Conflict, Forbidden
from failoverd.machine.lease import after_conflict, claim_epoch
from failoverd.store import codec
from failoverd.store.base import Deposed, StoreError, StoreUnavailable
from failoverd.store.records import ServiceRecord

EPOCH = "failoverd.io/epoch"
HOLDER = "failoverd.io/holder"
MAX_BYTES = 900_000  # under the API server's 1 MiB object limit, with room for metadata
AUDIT_BYTES = 512_000
REQUEST_TIMEOUT = 10.0  # seconds for one API request, at most
MIN_WRITE = 0.1  # seconds: with less time than this left on the lease, a write is not sent
CONCURRENCY = 16  # requests in flight while loading or claiming many services
T = TypeVar("T")


async def _bounded(fn: Callable[[str], Awaitable[T]], names: list[str]) -> list[T]:
    """fn for every name, CONCURRENCY of them at a time; the results in the names' order."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> T:
        async with limit:
            return await fn(name)

    return list(await asyncio.gather(*(one(n) for n in names)))


class AccessDenied(StoreError):
    """RBAC refuses failoverd a verb on one of its state ConfigMaps (HTTP 403)."""

    def __init__(self, namespace: str, name: str, verb: str, error: Exception) -> None:
        super().__init__(
            f"RBAC refuses {verb} on ConfigMap {namespace}/{name} ({error}): failoverd's Role "
            f"must allow get, create and update on configmaps in namespace {namespace} "
            "(config/kubernetes/10-rbac.yaml)"
        )


class LeaseTerm(Protocol):
    """What the store needs of the lease (leader.Elector): how long this leader may still act,
    and writing a higher epoch into the Lease."""

    def time_left(self) -> float: ...
    async def raise_epoch(self, epoch: int) -> None: ...


class ObjectApi(Protocol):
    """Whole-object ConfigMap reads and conditional writes in one namespace (kube.Objects)."""

    namespace: str

    async def get(self, name: str, timeout: float) -> dict[str, Any] | None: ...
    async def create(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]: ...
    async def replace(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]: ...


def configmap_name(prefix: str, service: str) -> str:
    """A valid ConfigMap name for a service (lowercase, '-'; a hash when that changed it)."""
    safe = re.sub(r"[^a-z0-9.-]", "-", service.lower()).strip("-.") or "x"
    name = f"{prefix}-svc-{safe}"
    if safe != service:
        name += "-" + hashlib.sha256(service.encode()).hexdigest()[:8]
    return name


def holder_of(obj: dict[str, Any]) -> str | None:
    holder = (obj.get("metadata", {}).get("annotations") or {}).get(HOLDER)
    return str(holder) if holder is not None else None


def epoch_of(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(EPOCH, 0))
    except (TypeError, ValueError):
        return 0


class ConfigMapStore:
    def __init__(
        self,
        objects: ObjectApi,
        prefix: str,
        identity: str,
        on_deposed: Callable[[str], None] = lambda why: None,
        lease: LeaseTerm | None = None,
    ) -> None:
        self.objects, self.prefix, self.identity = objects, prefix, identity
        self.on_deposed, self.lease = on_deposed, lease
        self.claimed_as_found: list[str] = []  # objects the last claim took as another wrote them
        self.where = f"ConfigMaps {objects.namespace}/{prefix}-*"
        self.epoch: int | None = None  # None: not the leader, nothing may be written
        self._rv: dict[str, str | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._audit: list[str] = []

    # ----------------------------------------------------------------- reading

    async def _get(self, name: str) -> dict[str, Any] | None:
        try:
            obj = await self.objects.get(name, REQUEST_TIMEOUT)
        except Forbidden as e:
            raise AccessDenied(self.objects.namespace, name, "get", e) from None
        except ActionError as e:
            raise StoreUnavailable(f"cannot read ConfigMap {name}: {e}") from None
        self._rv[name] = obj["metadata"].get("resourceVersion") if obj else None
        return obj

    def _decode(self, name: str, obj: dict[str, Any], key: str) -> Any:
        raw = (obj.get("data") or {}).get(key)
        if raw is None:
            raise StoreError(
                f"ConfigMap {self.objects.namespace}/{name} has no {key}: it is not "
                "failoverd's, or it was edited; it was left as it is"
            )
        try:
            data = json.loads(raw)
            schema = data["schema"]
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"ConfigMap {self.objects.namespace}/{name} is corrupt; it was "
                "left as it is: inspect it, then delete it to start from what the "
                "traffic switch says"
            ) from None
        if not isinstance(schema, int) or schema > codec.SCHEMA_VERSION:
            raise StoreError(
                f"ConfigMap {self.objects.namespace}/{name} has schema {schema!r}, "
                "newer than this failoverd understands: run the newer version"
            )
        return data

    async def _load_one(self, service: str) -> ServiceRecord | None:
        name = configmap_name(self.prefix, service)
        obj = await self._get(name)
        return None if obj is None else self._record(service, name, obj)

    def _record_or_new(self, service: str, name: str, obj: dict[str, Any] | None) -> ServiceRecord:
        return ServiceRecord() if obj is None else self._record(service, name, obj)

    def _record(self, service: str, name: str, obj: dict[str, Any]) -> ServiceRecord:
        data = self._decode(name, obj, "record.json")
        try:
            stored, record = codec.decode_service(data)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise StoreError(f"ConfigMap {name} is corrupt ({e}); it was left as it is") from None
        if stored != service:
            raise StoreError(f"ConfigMap {name} holds service {stored!r}, not {service!r}")
        return record

    async def load(self, services: list[str]) -> dict[str, ServiceRecord]:
        """Read every service's record (a follower's read-only view, or before a claim)."""
        found = await _bounded(self._load_one, services)
        return {s: r for s, r in zip(services, found, strict=True) if r is not None}

    # ----------------------------------------------------------------- taking the state

    async def open(self, services: list[str], epoch: int | None = None) -> dict[str, ServiceRecord]:
        """Read the state and claim it (every service's ConfigMap, the outbox and the audit) with
        an epoch above any it carries: the Lease's, or higher (the Lease is raised to match)."""
        if epoch is None:
            raise StoreError("the Kubernetes state store is written only by the lease's holder")
        self.epoch, self.claimed_as_found = None, []
        names = {s: configmap_name(self.prefix, s) for s in services}
        extras = [f"{self.prefix}-outbox", f"{self.prefix}-audit"]
        every = [*names.values(), *extras]
        objs = dict(zip(every, await _bounded(self._get, every), strict=True))
        records = {s: self._record_or_new(s, n, objs[n]) for s, n in names.items()}
        # our own writes of an earlier try of this claim (same epoch, our name) do not count
        others = [
            epoch_of(o)
            for o in objs.values()
            if o is not None and (epoch_of(o), holder_of(o)) != (epoch, self.identity)
        ]
        mine = claim_epoch(epoch, max(others, default=0))
        if mine != epoch and self.lease is not None:
            try:
                await self.lease.raise_epoch(mine)
            except ActionError as e:
                raise StoreUnavailable(f"cannot raise the Lease to epoch {mine}: {e}") from None
        self.epoch = mine
        claimed = await _bounded(lambda s: self._claim(s, records[s]), services)
        empty = {
            f"{self.prefix}-outbox": {
                "events.json": json.dumps({"schema": codec.SCHEMA_VERSION, "events": []})
            },
            f"{self.prefix}-audit": {"audit.jsonl": ""},
        }
        for extra in extras:  # a deposed leader's late write (even a create) must meet a 409
            obj = objs[extra]
            data = dict(obj.get("data") or {}) if obj is not None else empty[extra]
            await self._write(extra, data, claiming=True)
        return dict(zip(services, claimed, strict=True))

    async def _claim(self, service: str, record: ServiceRecord) -> ServiceRecord:
        """Write a service's record with our epoch; the record as it now is if an older leader
        wrote it after we read it (its newest journal: what we resume from)."""
        name = configmap_name(self.prefix, service)
        data = self._encode(service, record)
        written = await self._write(name, data, claiming=True)
        if written is data:
            return record
        self.claimed_as_found.append(name)
        return self._record(service, name, {"data": written})

    async def close(self) -> None:
        self.epoch = None

    # ----------------------------------------------------------------- writing

    def _timeout(self, name: str) -> float:
        """A write's timeout: the lease's time left, at most REQUEST_TIMEOUT; none left, no write."""
        if self.lease is None:
            return REQUEST_TIMEOUT
        left = self.lease.time_left()
        if left < MIN_WRITE:
            raise StoreUnavailable(
                f"ConfigMap {name}: not written, the lease has {left:.2f}s "
                "left (a write must land while this process leads)"
            )
        return min(REQUEST_TIMEOUT, left)

    async def _write(
        self, name: str, data: dict[str, str], claiming: bool = False
    ) -> dict[str, str]:
        """PUT (or create) one ConfigMap, conditional on its resourceVersion, with our epoch.

        Returns the data written: `data`, or, while claiming, the object's data as an older
        leader wrote it after we read it (machine.after_conflict says which)."""
        async with self._locks.setdefault(name, asyncio.Lock()):
            for _ in range(4):
                if self.epoch is None:
                    raise StoreUnavailable(f"ConfigMap {name}: not the leader, nothing is written")
                rv = self._rv.get(name)
                meta: dict[str, Any] = {
                    "name": name,
                    "labels": {
                        "app.kubernetes.io/managed-by": "failoverd",
                        "failoverd.io/state": self.prefix,
                    },
                    "annotations": {EPOCH: str(self.epoch), HOLDER: self.identity},
                }
                if rv is not None:
                    meta["resourceVersion"] = rv
                body, verb = {"metadata": meta, "data": data}, "create" if rv is None else "update"
                try:
                    if rv is None:
                        out = await self.objects.create(body, self._timeout(name))
                    else:
                        out = await self.objects.replace(body, self._timeout(name))
                except Conflict:
                    data = await self._after_conflict(name, data, claiming)
                    continue
                except Forbidden as e:
                    raise AccessDenied(self.objects.namespace, name, verb, e) from None
                except ActionError as e:
                    raise StoreUnavailable(f"cannot write ConfigMap {name}: {e}") from None
                self._rv[name] = out["metadata"].get("resourceVersion")
                return data
            raise StoreUnavailable(f"ConfigMap {name}: kept meeting conflicts")

    async def _after_conflict(
        self, name: str, data: dict[str, str], claiming: bool
    ) -> dict[str, str]:
        """Our write met a 409: re-read the object (a fresh resourceVersion) and go again with
        ours, or with it as it now is (claiming), or stop: another writer (Deposed)."""
        current = await self._get(name)  # fresh resourceVersion, or None
        mine = self.epoch
        if mine is None:
            raise StoreUnavailable(f"ConfigMap {name}: not the leader, nothing is written")
        found = None if current is None else epoch_of(current)
        by_me = current is not None and holder_of(current) == self.identity
        verdict = after_conflict(mine, found, by_me, claiming)
        if verdict == "again":
            return data
        assert current is not None
        if verdict == "claim":
            return dict(current.get("data") or {})
        why = (
            f"ConfigMap {name} was written by epoch {found} ({holder_of(current)}); this "
            f"process leads epoch {mine}"
        )
        self.epoch = None
        self.on_deposed(why)
        raise Deposed(why)

    def _encode(self, name: str, record: ServiceRecord) -> dict[str, str]:
        doc = json.dumps(codec.encode_service(name, record), separators=(",", ":"))
        if len(doc) > MAX_BYTES:
            raise StoreUnavailable(f"the record of {name} is {len(doc)} bytes, over {MAX_BYTES}")
        return {"record.json": doc}

    async def save(self, name: str, record: ServiceRecord) -> None:
        await self._write(configmap_name(self.prefix, name), self._encode(name, record))

    # ----------------------------------------------------------------- outbox and audit

    async def load_outbox(self) -> list[dict[str, Any]]:
        name = f"{self.prefix}-outbox"
        obj = await self._get(name)
        if obj is None:
            return []
        entries = self._decode(name, obj, "events.json").get("events")
        if not isinstance(entries, list):
            raise StoreError(f"ConfigMap {name} is corrupt (no events list)")
        return entries

    async def save_outbox(self, entries: list[dict[str, Any]]) -> None:
        entries = list(entries)
        while True:  # the oldest events go first when it would not fit in one object
            doc = json.dumps({"schema": codec.SCHEMA_VERSION, "events": entries})
            if len(doc) <= MAX_BYTES or not entries:
                break
            entries.pop(0)
        await self._write(f"{self.prefix}-outbox", {"events.json": doc})

    async def load_audit(self) -> list[str]:
        obj = await self._get(f"{self.prefix}-audit")
        text = ((obj or {}).get("data") or {}).get("audit.jsonl", "")
        self._audit = [line for line in text.splitlines() if line]
        return list(self._audit)

    async def append_audit(self, line: str) -> None:
        self._audit.append(line)
        while sum(len(x) + 1 for x in self._audit) > AUDIT_BYTES and len(self._audit) > 1:
            self._audit.pop(0)
        await self._write(f"{self.prefix}-audit", {"audit.jsonl": "\n".join(self._audit) + "\n"})
