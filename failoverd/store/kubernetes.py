"""The arbiter cluster's store: the state in ConfigMaps, written only by the lease's holder.

One ConfigMap per service (`NAME-svc-SERVICE`, key `record.json`), so a transition rewrites
one small object and none nears the 1 MiB limit; `NAME-outbox` holds the notifications not yet
delivered and `NAME-audit` the newest audit lines (bounded by size). Every write is a PUT
conditional on the resourceVersion this process last saw, and carries the writer's lease epoch
in an annotation. A leader claims every service's ConfigMap when it is elected (a write with
its new epoch), so a deposed leader's next write meets a 409, reads the object, finds a newer
epoch and stops (`Deposed`). A 409 from our own write whose answer was lost (same epoch) is
retried on the fresh resourceVersion.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from failoverd.errors import ActionError, Conflict
from failoverd.store import codec
from failoverd.store.base import Deposed, StoreError, StoreUnavailable
from failoverd.store.records import ServiceRecord

EPOCH = "failoverd.io/epoch"
HOLDER = "failoverd.io/holder"
MAX_BYTES = 900_000  # under the API server's 1 MiB object limit, with room for metadata
AUDIT_BYTES = 512_000
REQUEST_TIMEOUT = 10.0  # seconds for one API request
CONCURRENCY = 16  # requests in flight while loading or claiming many services
T = TypeVar("T")


async def _bounded(fn: Callable[[str], Awaitable[T]], names: list[str]) -> list[T]:
    """fn for every name, CONCURRENCY of them at a time; the results in the names' order."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> T:
        async with limit:
            return await fn(name)

    return list(await asyncio.gather(*(one(n) for n in names)))


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


def epoch_of(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(EPOCH, 0))
    except (TypeError, ValueError):
        return 0


class ConfigMapStore:
    def __init__(
        self, objects: ObjectApi, prefix: str, identity: str,
        on_deposed: Callable[[str], None] = lambda why: None,
    ) -> None:  # fmt: skip
        self.objects, self.prefix, self.identity = objects, prefix, identity
        self.on_deposed = on_deposed
        self.where = f"ConfigMaps {objects.namespace}/{prefix}-*"
        self.epoch: int | None = None  # None: not the leader, nothing may be written
        self._rv: dict[str, str | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._audit: list[str] = []

    # ----------------------------------------------------------------- reading

    async def _get(self, name: str) -> dict[str, Any] | None:
        try:
            obj = await self.objects.get(name, REQUEST_TIMEOUT)
        except ActionError as e:
            raise StoreUnavailable(f"cannot read ConfigMap {name}: {e}") from None
        self._rv[name] = obj["metadata"].get("resourceVersion") if obj else None
        return obj

    def _decode(self, name: str, obj: dict[str, Any], key: str) -> Any:
        raw = (obj.get("data") or {}).get(key)
        if raw is None:
            raise StoreError(f"ConfigMap {self.objects.namespace}/{name} has no {key}: it is not "
                             "failoverd's, or it was edited; it was left as it is")  # fmt: skip
        try:
            data = json.loads(raw)
            schema = data["schema"]
        except (ValueError, KeyError, TypeError):
            raise StoreError(f"ConfigMap {self.objects.namespace}/{name} is corrupt; it was "
                             "left as it is: inspect it, then delete it to start from what the "
                             "traffic switch says") from None  # fmt: skip
        if not isinstance(schema, int) or schema > codec.SCHEMA_VERSION:
            raise StoreError(f"ConfigMap {self.objects.namespace}/{name} has schema {schema!r}, "
                             "newer than this failoverd understands: run the newer version")  # fmt: skip
        return data

    async def _load_one(self, service: str) -> ServiceRecord | None:
        name = configmap_name(self.prefix, service)
        obj = await self._get(name)
        if obj is None:
            return None
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
        """Read the state and claim it with this leader's epoch (every service's ConfigMap)."""
        if epoch is None:
            raise StoreError("the Kubernetes state store is written only by the lease's holder")
        self.epoch = epoch
        records = await self.load(services)
        for service in services:
            records.setdefault(service, ServiceRecord())
        await _bounded(lambda service: self.save(service, records[service]), services)
        for extra in ("outbox", "audit"):  # a deposed leader's late write must meet a 409 too
            obj = await self._get(f"{self.prefix}-{extra}")
            if obj is not None:
                await self._write(f"{self.prefix}-{extra}", dict(obj.get("data") or {}))
        return records

    async def close(self) -> None:
        self.epoch = None

    # ----------------------------------------------------------------- writing

    async def _write(self, name: str, data: dict[str, str]) -> None:
        """PUT (or create) one ConfigMap, conditional on its resourceVersion, with our epoch."""
        if self.epoch is None:
            raise StoreUnavailable(f"ConfigMap {name}: not the leader, nothing is written")
        async with self._locks.setdefault(name, asyncio.Lock()):
            for _ in range(4):
                rv = self._rv.get(name)
                meta: dict[str, Any] = {
                    "name": name,
                    "labels": {"app.kubernetes.io/managed-by": "failoverd",
                               "failoverd.io/state": self.prefix},
                    "annotations": {EPOCH: str(self.epoch), HOLDER: self.identity},
                }  # fmt: skip
                try:
                    if rv is None:
                        out = await self.objects.create({"metadata": meta, "data": data},
                                                        REQUEST_TIMEOUT)  # fmt: skip
                    else:
                        meta["resourceVersion"] = rv
                        out = await self.objects.replace({"metadata": meta, "data": data},
                                                         REQUEST_TIMEOUT)  # fmt: skip
                except Conflict:
                    current = await self._get(name)  # fresh resourceVersion, or None
                    if current is not None and epoch_of(current) > self.epoch:
                        why = (f"ConfigMap {name} was written by epoch {epoch_of(current)} "
                               f"({(current['metadata'].get('annotations') or {}).get(HOLDER)}); "
                               f"this process leads epoch {self.epoch}")  # fmt: skip
                        self.epoch = None
                        self.on_deposed(why)
                        raise Deposed(why) from None
                    continue  # our own earlier write landed (its answer was lost): go again
                except ActionError as e:
                    raise StoreUnavailable(f"cannot write ConfigMap {name}: {e}") from None
                self._rv[name] = out["metadata"].get("resourceVersion")
                return
            raise StoreUnavailable(f"ConfigMap {name}: kept meeting conflicts")

    async def save(self, name: str, record: ServiceRecord) -> None:
        doc = json.dumps(codec.encode_service(name, record), separators=(",", ":"))
        if len(doc) > MAX_BYTES:
            raise StoreUnavailable(f"the record of {name} is {len(doc)} bytes, over {MAX_BYTES}")
        await self._write(configmap_name(self.prefix, name), {"record.json": doc})

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
