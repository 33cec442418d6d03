"""Kubernetes in the lab: kmock's KubernetesEmulator as a cluster on 127.0.0.1.

The emulator is a real HTTP Kubernetes API (the real kubernetes-asyncio client talks to it),
but it lacks what a real API server does with writes, which `cluster()` adds in front of it:
the PUT (replace) verb, a metadata.resourceVersion on every POST and PUT, and optimistic
concurrency: a PUT carrying a stale resourceVersion is refused with 409 Conflict; and when a
test asks, PUTs fail with 500 as on a struggling etcd (`Cluster.failing_puts`), another write
lands just before one (`racing_puts`), a GET waits before the object is read (`before_read`),
or RBAC refuses a verb (`forbidden`: 403, in the API server's words). Every write
to a Lease or a ConfigMap is appended to `Cluster.writes` (with the writer's epoch), so a test
can check that no two leaders ever overlapped. It runs no controllers: nothing turns
spec.replicas into ready pods. `ReplicaController` plays the Deployment/StatefulSet
controller: after `delay` it sets status.readyReplicas to spec.replicas, so a prepare step
really waits for readiness the way it would on a cluster. `BlackHole` stands between one
client and the API server and can swallow every byte, as a partitioned network does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml

RESOURCES = (
    "apps/v1/deployments",
    "apps/v1/statefulsets",
    "v1/configmaps",
    "v1/secrets",
    "v1/services",
    "coordination.k8s.io/v1/leases",
)


@dataclass
class Cluster:
    name: str
    emulator: Any
    url: str
    writes: list[dict[str, Any]] = field(default_factory=list)  # Lease and ConfigMap writes
    wrote: asyncio.Event = field(default_factory=asyncio.Event)  # set at each logged write
    # (plural, writer) -> how many of the writer's next PUTs of that kind fail with 500, as an API
    # server's do when etcd times out (the write did not land); the writer is the ConfigMap's
    # failoverd.io/holder annotation, or the Lease's holderIdentity
    failing_puts: dict[tuple[str, str], int] = field(default_factory=dict)
    # (plural, writer) -> a coroutine run once, just before that writer's next PUT of that kind is
    # served: another write racing it (it lands first, so the PUT's resourceVersion is stale)
    racing_puts: dict[tuple[str, str], Callable[[], Awaitable[Any]]] = field(default_factory=dict)
    # (plural, writer) -> how many of the writer's next PUTs land but answer 500 (the answer is
    # lost: a timeout after etcd committed)
    lost_answers: dict[tuple[str, str], int] = field(default_factory=dict)
    # run before the API server reads an object for a GET (plural, name): a slow read, whose
    # answer shows what the object became while the request waited
    before_read: Callable[[str, str], Awaitable[None]] | None = None
    # (verb, plural, name) the caller's RBAC refuses (403 Forbidden); name "*" for every name
    forbidden: set[tuple[str, str, str]] = field(default_factory=set)
    # while set, the ReplicaController makes no pod of this cluster ready (pods slow to start, an
    # image pull that takes its time): a scale-up that waits for readiness waits until it is unset
    pods_held: bool = False
    pods_wanted: asyncio.Event = field(default_factory=asyncio.Event)  # set: held pods asked for

    async def wait_writes(self, count: int, holder: str | None = None, timeout: float = 10) -> None:
        """Until `count` writes (by `holder`, when given) are in the write log."""

        def seen() -> int:
            return sum(1 for w in self.writes if holder is None or w["holder"] == holder)

        async with asyncio.timeout(timeout):
            while seen() < count:
                self.wrote.clear()
                await self.wrote.wait()

    def lease(self, name: str = "failoverd", namespace: str = "failoverd") -> dict[str, Any]:
        key = (kmock.resource("coordination.k8s.io/v1/leases"), namespace, name)
        return dict(self.emulator.objects[key].raw)

    def configmap(self, name: str, namespace: str = "failoverd") -> dict[str, Any] | None:
        key = (kmock.resource("v1/configmaps"), namespace, name)
        if key not in self.emulator.objects or self.emulator.objects[key].deleted:
            return None
        return dict(self.emulator.objects[key].raw)

    def deployment(self, name: str, namespace: str = "default") -> dict[str, Any]:
        key = (kmock.resource("apps/v1/deployments"), namespace, name)
        return dict(self.emulator.objects[key].raw)

    def replicas(self, name: str, namespace: str = "default") -> tuple[int, int]:
        """(spec.replicas, status.readyReplicas) of a Deployment."""
        d = self.deployment(name, namespace)
        return d["spec"]["replicas"], (d.get("status") or {}).get("readyReplicas", 0)

    def add_deployment(self, name: str, replicas: int, namespace: str = "default") -> None:
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": f"{name}:1"}]},
                },
            },
            "status": {"replicas": replicas, "readyReplicas": replicas},
        }
        self.emulator.objects[kmock.resource("apps/v1/deployments"), namespace, name] = body


def _writer(obj: dict[str, Any]) -> str | None:
    """Who wrote a Lease (its holderIdentity) or a state ConfigMap (failoverd.io/holder)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return (obj.get("spec") or {}).get("holderIdentity", annotations.get("failoverd.io/holder"))


def _refuse(lab: Cluster, verb: str, request: Any, name: str | None) -> None:
    """403 where the test's RBAC says no (the API server's message, word for word)."""
    plural = getattr(request.resource, "plural", "")
    if {(verb, plural, name or ""), (verb, plural, "*")} & lab.forbidden:
        group = getattr(request.resource, "group", "") or ""
        raise kmock.KubernetesError(
            status=403,
            reason="Forbidden",
            message=f'{plural}{"." + group if group else ""} "{name or ""}" is forbidden: '
            f'User "system:serviceaccount:failoverd:failoverd" cannot {verb} resource '
            f'"{plural}" in API group "{group}" in the namespace "{request.namespace}"',
        )


async def _read(lab: Cluster, request: Any) -> None:
    """A GET of one object: refused, or slow, then served by the emulator as usual."""
    _refuse(lab, "get", request, request.name)
    if lab.before_read is not None:
        await lab.before_read(getattr(request.resource, "plural", ""), request.name)


async def _put_faults(lab: Cluster, request: Any) -> None:
    """What a test asked of a PUT before it is served: refused, raced, or failing."""
    _refuse(lab, "update", request, request.name)
    fault = (getattr(request.resource, "plural", ""), _writer(request.data) or "")
    race = lab.racing_puts.pop(fault, None)
    if race is not None:
        await race()
    if lab.failing_puts.get(fault, 0) > 0:
        lab.failing_puts[fault] -= 1
        raise kmock.KubernetesError(
            status=500, reason="InternalError", message="etcdserver: request timed out"
        )


@contextlib.asynccontextmanager
async def cluster(name: str) -> AsyncIterator[Cluster]:
    """One emulated cluster: the usual resources, and /readyz answering ok."""
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        for res in RESOURCES:
            emulator.resources[res] = {}  # type: ignore[assignment]  # kmock: an empty ResourceInfo
        emulator["get /readyz"] << b"ok"
        lab = Cluster(name, emulator, str(server.url).rstrip("/"))
        versions = iter(range(1000, 10**9))
        loop = asyncio.get_running_loop()

        def log(verb: str, request: Any, obj: dict[str, Any]) -> None:
            plural = getattr(request.resource, "plural", "")
            if plural not in ("leases", "configmaps"):
                return
            meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
            epoch = (meta.get("annotations") or {}).get("failoverd.io/epoch")
            if plural == "leases":
                epoch = spec.get("leaseTransitions")
            lab.writes.append(
                {
                    "t": loop.time(),
                    "verb": verb,
                    "kind": plural,
                    "name": meta.get("name"),
                    "epoch": int(epoch or 0),
                    "holder": _writer(obj),
                }
            )
            lab.wrote.set()

        # The emulator stores a POST before any reaction runs (409 when the name is taken);
        # this gives the new object its resourceVersion, as the API server does.
        def create(request: Any) -> Any:
            meta = request.data.get("metadata") or {}
            key = (request.resource, request.namespace or meta.get("namespace"), meta["name"])
            try:
                _refuse(lab, "create", request, meta["name"])
            except kmock.KubernetesError:
                emulator.objects[key].delete()  # stored before this ran: the refusal undoes it
                raise
            emulator.objects[key].patch({"metadata": {"resourceVersion": str(next(versions))}})
            log("create", request, emulator.objects[key].raw)
            return emulator.objects[key].raw

        # The emulator has no PUT (replace) verb; this does what the API server does with one:
        # refuse a stale resourceVersion (409), else store the request's object whole.
        async def replace(request: Any) -> Any:
            key = (request.resource, request.namespace, request.name)
            await _put_faults(lab, request)
            if key not in emulator.objects or emulator.objects[key].deleted:
                raise kmock.KubernetesError(status=404, reason="NotFound", message="not found")
            stored = (emulator.objects[key].raw.get("metadata") or {}).get("resourceVersion")
            sent = (request.data.get("metadata") or {}).get("resourceVersion")
            if sent and sent != stored:
                raise kmock.KubernetesError(
                    status=409,
                    reason="Conflict",
                    message=f"the object has been modified (resourceVersion {sent} is not {stored})",
                )
            data = dict(request.data)
            data["metadata"] = {
                **(data.get("metadata") or {}),
                "resourceVersion": str(next(versions)),
            }
            emulator.objects[key] = data
            log("replace", request, data)
            raw = emulator.objects[key].raw
            # watchers see it change (the emulator only tells them of its own verbs)
            await emulator._buses[request.resource].put({"type": "MODIFIED", "object": raw})
            fault = (getattr(request.resource, "plural", ""), _writer(request.data) or "")
            if lab.lost_answers.get(fault, 0) > 0:
                lab.lost_answers[fault] -= 1
                raise kmock.KubernetesError(
                    status=500, reason="InternalError", message="etcdserver: request timed out"
                )
            return raw

        emulator[kmock.action.FETCH] << (lambda request: _read(lab, request))
        emulator["post"] << create
        emulator["put"] << replace
        yield lab


async def relay(stack: contextlib.AsyncExitStack, cluster: Cluster, kubeconfig: Path) -> BlackHole:
    """A BlackHole in front of `cluster` (closed with `stack`), and at `kubeconfig` a kubeconfig
    whose context (named like the cluster) goes through it."""
    hole = await stack.enter_async_context(BlackHole(cluster.url))
    write_kubeconfig(kubeconfig, [Cluster(cluster.name, None, hole.url)])
    return hole


class BlackHole:
    """A TCP relay between a client and an API server that can swallow everything.

    While `hole` is set, bytes in either direction are read and dropped: connections stay
    open and requests simply never get an answer, as when a network partition black-holes
    the traffic (no RST, no error, only silence).
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.hole = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> BlackHole:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(65536):
                if not self.hole:
                    dst.write(chunk)
                    await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()


def write_kubeconfig(path: Path, clusters: list[Cluster]) -> Path:
    """A kubeconfig with one context per cluster, named like the cluster."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": clusters[0].name,
        "clusters": [{"name": c.name, "cluster": {"server": c.url}} for c in clusters],
        "users": [{"name": "failoverd", "user": {"token": "lab-token"}}],
        "contexts": [
            {"name": c.name, "context": {"cluster": c.name, "user": "failoverd"}} for c in clusters
        ],
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def _is_deploy(key: Any) -> bool:
    return bool(key[0] == kmock.resource("apps/v1/deployments"))


def _wants_pods(obj: Any) -> bool:
    """A Deployment asks for more ready pods than it has."""
    raw = obj.raw
    ready = (raw.get("status") or {}).get("readyReplicas", 0)
    return not obj.deleted and raw.get("spec", {}).get("replicas", 1) > ready


@dataclass
class ReplicaController:
    """Stands in for the Deployment controller the emulator does not run."""

    clusters: list[Cluster]
    delay: float = 0.3
    _task: asyncio.Task[None] | None = None
    _pending: dict[tuple[str, Any], float] = field(default_factory=dict)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for c in self.clusters:
                if c.pods_held:
                    if any(_wants_pods(o) for k, o in c.emulator.objects.items() if _is_deploy(k)):
                        c.pods_wanted.set()
                    continue
                for key in list(c.emulator.objects):
                    if key[0] != kmock.resource("apps/v1/deployments"):
                        continue
                    obj = c.emulator.objects[key]
                    if obj.deleted:
                        continue
                    raw = obj.raw
                    want = raw.get("spec", {}).get("replicas", 1)
                    ready = (raw.get("status") or {}).get("readyReplicas", 0)
                    if want == ready:
                        self._pending.pop((c.name, key), None)
                        continue
                    due = self._pending.setdefault((c.name, key), loop.time() + self.delay)
                    if loop.time() >= due:
                        obj.patch({"status": {"replicas": want, "readyReplicas": want}})
                        self._pending.pop((c.name, key), None)
            await asyncio.sleep(0.02)  # a controller's resync tick

    async def __aenter__(self) -> ReplicaController:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def warm_regions(
    tmp: Path, app: str = "webapp"
) -> AsyncIterator[tuple[Cluster, Cluster, Path]]:
    """Two regions for warm mode: beijing runs APP on 3 replicas, shanghai keeps it at 0; a
    ReplicaController for both; one kubeconfig (tmp/kubeconfig) with a context for each."""
    async with cluster("beijing") as bj, cluster("shanghai") as sh, ReplicaController([bj, sh]):
        bj.add_deployment(app, 3)
        sh.add_deployment(app, 0)
        yield bj, sh, write_kubeconfig(tmp / "kubeconfig", [bj, sh])


def make_warm(cfg: dict[str, Any], kubeconfig: Path, timeout: str = "300ms") -> dict[str, Any]:
    """A lab config's service `webapp` in warm mode over warm_regions(): a kubernetes probe on
    each side, and a prepare that scales shanghai's webapp to 3 replicas."""
    svc = cfg["services"]["webapp"]
    svc["mode"] = "warm"
    cfg["clusters"] = {
        c: {"kubeconfig": str(kubeconfig), "context": c} for c in ("beijing", "shanghai")
    }
    for side, cluster in (("primary", "beijing"), ("standby", "shanghai")):
        svc["probes"][side].append({"kubernetes": {"cluster": cluster, "timeout": timeout}})
    svc["prepare"] = {"scale": [{"cluster": "shanghai", "deployment": "webapp", "replicas": 3}]}
    return cfg


def _service_config(
    kubeconfig: Path, service: str, mode: str, contexts: tuple[str, str], more: str
) -> str:
    """One service over emulated clusters, probed by kubernetes, switched by Route 53 (zone Z1,
    in moto); `more`: its prepare (and replication), as YAML lines under the service."""
    return f"""
clusters:
  beijing: {{kubeconfig: {kubeconfig}, context: {contexts[0]}}}
  shanghai: {{kubeconfig: {kubeconfig}, context: {contexts[1]}}}
services:
  {service}:
    mode: {mode}
    primary: beijing
    standby: shanghai
    probes:
      primary: [{{kubernetes: {{cluster: beijing}}}}]
      standby: [{{kubernetes: {{cluster: shanghai}}}}]
    traffic:
      route53: {{hosted_zone_id: Z1, name: www.example.test., primary: [192.0.2.1], standby: [192.0.2.2]}}
{more}"""


def warm_web_config(kubeconfig: Path) -> str:
    """A warm-mode service `webapp` over warm_regions(): prepare scales shanghai's webapp to 3."""
    prepare = "    prepare: {scale: [{cluster: shanghai, deployment: webapp, replicas: 3}]}\n"
    return _service_config(kubeconfig, "webapp", "warm", ("beijing", "shanghai"), prepare)


def cold_web_config(kubeconfig: Path) -> str:
    """A cold-mode service `web` whose both clusters are one emulated cluster (shanghai): its
    prepare restores the newest snapshot of the s3_snapshot job `snapshots` (bucket dr-snapshots,
    prefix web/) into the standby; Route 53 switches (zone Z1, in moto)."""
    more = (
        "    prepare: {restore: {snapshot_job: snapshots}}\n"
        "    replication:\n"
        "      snapshots: {every: 5m, s3_snapshot: {cluster: beijing, namespaces: [default],"
        " bucket: dr-snapshots, prefix: web/}}\n"
    )
    return _service_config(kubeconfig, "web", "cold", ("shanghai", "shanghai"), more)
