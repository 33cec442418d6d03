"""The one place that builds kubernetes-asyncio clients, one per cluster, and the few
Kubernetes operations failoverd needs: scale a workload, read how many replicas are ready.

Errors come out classified: 401/403/404/422 mean the config or RBAC is wrong (PermanentError);
409, 429, 5xx and connection problems are worth retrying (TransientError).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from failoverd import config
from failoverd.kit.digest import sha256_hex
from failoverd.kit.errors import ActionError, Conflict, Forbidden, PermanentError, TransientError

WorkloadKind = Literal["deployment", "statefulset"]
ApiClient = k8s.ApiClient


async def build_client(cfg: config.ClusterConfig) -> k8s.ApiClient:
    """An API client for one cluster: in-cluster credentials or a kubeconfig (and context)."""
    try:
        if cfg.in_cluster:
            configuration = k8s.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return k8s.ApiClient(configuration)
        return await k8s_config.new_client_from_config(
            config_file=cfg.kubeconfig, context=cfg.context
        )
    except (k8s_config.ConfigException, OSError) as e:
        raise PermanentError(f"cannot load Kubernetes credentials: {e}") from None


def classify(e: BaseException, what: str) -> ActionError:
    if isinstance(e, ApiException):
        reason = _message(e.body, str(e.reason))
        text = f"{what}: HTTP {e.status} {reason}"
        if e.status in (401, 403, 404, 422):
            return PermanentError(text)
        return TransientError(text)
    if isinstance(e, ActionError):
        return e
    return TransientError(f"{what}: {type(e).__name__}: {e}".rstrip(": "))


@contextlib.contextmanager
def classified(what: str, ignore: int | None = None) -> Iterator[None]:
    """Any error of the block as a TransientError or PermanentError that says what was done.

    `ignore`: the HTTP status that means "already as wanted" (409 on a create, 404 on a
    delete), which passes silently. The one place the SDK's and the network's errors are sorted.
    """
    try:
        yield
    except ApiException as e:
        if e.status != ignore:
            raise classify(e, what) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise classify(e, what) from None


def _message(raw: bytes | str | None, fallback: str = "") -> str:
    """The message of the API server's Status body; else the fallback, else the body itself."""
    try:
        return str(json.loads(raw or b"{}").get("message") or fallback)[:300]
    except (TypeError, ValueError, AttributeError):
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")
        return (fallback or text)[:300]


async def scale(
    api: k8s.ApiClient, kind: WorkloadKind, namespace: str, name: str, replicas: int
) -> None:
    """Set a workload's replicas through its scale subresource (idempotent)."""
    apps = k8s.AppsV1Api(api)
    body = {"spec": {"replicas": replicas}}
    with classified(f"scale {kind} {namespace}/{name} to {replicas}"):
        if kind == "deployment":
            await apps.patch_namespaced_deployment_scale(name, namespace, body)
        else:
            await apps.patch_namespaced_stateful_set_scale(name, namespace, body)


async def ready_replicas(
    api: k8s.ApiClient, kind: WorkloadKind, namespace: str, name: str
) -> tuple[int, int]:
    """(wanted replicas, ready replicas) of a workload."""
    apps = k8s.AppsV1Api(api)
    obj: Any = None
    with classified(f"read {kind} {namespace}/{name}"):
        if kind == "deployment":
            obj = await apps.read_namespaced_deployment(name, namespace)
        else:
            obj = await apps.read_namespaced_stateful_set(name, namespace)
    wanted = obj.spec.replicas if obj.spec and obj.spec.replicas is not None else 1
    ready = (obj.status.ready_replicas or 0) if obj.status else 0
    return int(wanted), int(ready)


async def wait_ready(
    api: k8s.ApiClient,
    kind: WorkloadKind,
    namespace: str,
    name: str,
    replicas: int,
    poll: float = 1.0,
) -> None:
    """Return once exactly `replicas` replicas are ready (0: none left); the caller bounds it."""
    while True:
        _, ready = await ready_replicas(api, kind, namespace, name)
        if ready == replicas:
            return
        await asyncio.sleep(poll)


async def api_ready(api: k8s.ApiClient) -> tuple[bool, str]:
    """The API server's own /readyz."""
    try:
        resp = await api.call_api(
            "/readyz", "GET", auth_settings=["BearerToken"], _preload_content=False
        )
        return resp.status == 200, f"/readyz HTTP {resp.status}"
    except ApiException as e:
        return False, f"/readyz HTTP {e.status}"


# --------------------------------------------------------------------------- objects

# Fields the API server owns: copying them to another cluster is wrong or refused.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)

# kind -> (API class, snake-case resource used in the client's method names)
KINDS: dict[str, tuple[type[Any], str]] = {
    "ConfigMap": (k8s.CoreV1Api, "config_map"),
    "Secret": (k8s.CoreV1Api, "secret"),
    "Service": (k8s.CoreV1Api, "service"),
    "Deployment": (k8s.AppsV1Api, "deployment"),
    "StatefulSet": (k8s.AppsV1Api, "stateful_set"),
}


API_VERSIONS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
}


def object_hash(obj: dict[str, Any]) -> str:
    """A short stable hash of an object's content."""
    return sha256_hex(obj)[:16]


def clean_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of obj without what is specific to the cluster it was read from."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
        and not k.startswith("deployment.kubernetes.io/")
    }
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    out["metadata"] = meta
    if obj.get("kind") == "Service":
        spec = {
            k: v
            for k, v in (obj.get("spec") or {}).items()
            if k not in ("clusterIP", "clusterIPs", "healthCheckNodePort")
        }
        spec["ports"] = [
            {k: v for k, v in p.items() if k != "nodePort"} for p in spec.get("ports", [])
        ]
        out["spec"] = spec
    return out


async def apply_object(api: k8s.ApiClient, obj: dict[str, Any]) -> str:
    """Create obj, or patch it where it exists; returns "created" or "patched"."""
    kind, meta = obj["kind"], obj["metadata"]
    api_cls, res = KINDS[kind]
    client = api_cls(api)
    what = f"apply {kind} {meta.get('namespace')}/{meta['name']}"
    if await create_object(api, obj):
        return "created"
    with classified(what):
        await getattr(client, f"patch_namespaced_{res}")(meta["name"], meta["namespace"], obj)
    return "patched"


async def replace_object(
    api: k8s.ApiClient, obj: dict[str, Any], resource_version: str | None
) -> None:
    """Replace an object whole (fields removed at the source go at the target too)."""
    kind, meta = obj["kind"], obj["metadata"]
    api_cls, res = KINDS[kind]
    body = (
        {**obj, "metadata": {**meta, "resourceVersion": resource_version}}
        if resource_version
        else obj
    )
    with classified(f"replace {kind} {meta['namespace']}/{meta['name']}"):
        await getattr(api_cls(api), f"replace_namespaced_{res}")(
            meta["name"], meta["namespace"], body
        )


async def create_object(api: k8s.ApiClient, obj: dict[str, Any]) -> bool:
    """Create obj; False (and nothing changed) when it already exists."""
    kind, meta = obj["kind"], obj["metadata"]
    api_cls, res = KINDS[kind]
    created = False
    with classified(f"create {kind} {meta.get('namespace')}/{meta['name']}", ignore=409):
        await getattr(api_cls(api), f"create_namespaced_{res}")(meta["namespace"], obj)
        created = True
    return created


async def delete_object(api: k8s.ApiClient, kind: str, namespace: str, name: str) -> None:
    api_cls, res = KINDS[kind]
    with classified(f"delete {kind} {namespace}/{name}", ignore=404):  # gone is as wanted
        await getattr(api_cls(api), f"delete_namespaced_{res}")(name, namespace)


# Objects every cluster makes for itself: never copied.
_SKIP = {("ConfigMap", "kube-root-ca.crt"), ("Service", "kubernetes")}


async def read_objects(api: ApiClient, namespace: str, kind: str) -> list[dict[str, Any]]:
    """Every object of a kind in a namespace, as plain dicts with apiVersion and kind."""
    api_cls, res = KINDS[kind]
    try:
        listing = await getattr(api_cls(api), f"list_namespaced_{res}")(namespace)
    except Exception as e:
        raise classify(e, f"list {kind} in {namespace}") from None
    items = api.sanitize_for_serialization(listing).get("items", [])
    version = API_VERSIONS[kind]
    out = []
    for item in items:
        item["apiVersion"], item["kind"] = version, kind
        name = item["metadata"]["name"]
        if (kind, name) in _SKIP or (
            kind == "Secret" and item.get("type") == "kubernetes.io/service-account-token"
        ):
            continue
        out.append(item)
    return out


# --------------------------------------------------------------------------- plain JSON objects
# The Lease and the state ConfigMaps are read and written whole as plain JSON, every write
# conditional on metadata.resourceVersion (a stale one is a 409, `Conflict`), and every request
# bounded by the time its caller has left (a black-holed API server must not hold a leader).


async def request_json(
    api: ApiClient, method: str, path: str, body: dict[str, Any] | None, timeout: float
) -> dict[str, Any] | None:
    """One request on a plain JSON object: its answer, None on 404, Conflict on 409."""
    what = f"{method} {path}"
    if timeout <= 0:
        raise TransientError(f"{what}: no time left")
    try:
        async with asyncio.timeout(timeout):
            resp = await api.call_api(
                path,
                method,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
            )
            try:
                raw = await resp.read()
            finally:
                resp.release()
    except (aiohttp.ClientError, OSError, TimeoutError, ApiException) as e:
        raise classify(e, what) from None
    if resp.status == 404:
        return None
    if resp.status == 409:
        raise Conflict(f"{what}: HTTP 409 {_message(raw)}")
    if not 200 <= resp.status <= 299:
        text = f"{what}: HTTP {resp.status} {_message(raw)}"
        if resp.status == 403:
            raise Forbidden(text)
        raise (PermanentError if resp.status in (401, 422) else TransientError)(text)
    try:
        data: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise TransientError(f"{what}: the answer is not JSON") from None
    return data


def object_path(api_version: str, plural: str, namespace: str, name: str | None = None) -> str:
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


class Objects:
    """Whole-object reads and conditional writes of one kind in one namespace of one cluster."""

    def __init__(
        self, get_api: Any, api_version: str, kind: str, plural: str, namespace: str
    ) -> None:
        self._get_api, self.namespace = get_api, namespace
        self.api_version, self.kind, self.plural = api_version, kind, plural

    def _body(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as sent: with its apiVersion, kind and this namespace."""
        meta = {**obj.get("metadata", {}), "namespace": self.namespace}
        return {**obj, "apiVersion": self.api_version, "kind": self.kind, "metadata": meta}

    async def get(self, name: str, timeout: float) -> dict[str, Any] | None:
        api = await self._get_api()
        path = object_path(self.api_version, self.plural, self.namespace, name)
        return await request_json(api, "GET", path, None, timeout)

    async def create(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Create it (Conflict when it already exists)."""
        api = await self._get_api()
        out = await request_json(
            api,
            "POST",
            object_path(self.api_version, self.plural, self.namespace),
            self._body(obj),
            timeout,
        )
        if out is None:
            raise PermanentError(f"create {self.kind} in {self.namespace}: namespace not found")
        return out

    async def replace(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]:
        """PUT it whole, conditional on the metadata.resourceVersion it carries (Conflict)."""
        api = await self._get_api()
        name = obj["metadata"]["name"]
        path = object_path(self.api_version, self.plural, self.namespace, name)
        out = await request_json(api, "PUT", path, self._body(obj), timeout)
        if out is None:
            raise Conflict(f"replace {self.kind} {self.namespace}/{name}: it was deleted")
        return out

    async def watch(self, name: str, timeout: float) -> AsyncIterator[dict[str, Any]]:
        """The watch events of one object (the server ends the stream after `timeout`)."""
        api = await self._get_api()
        path = object_path(self.api_version, self.plural, self.namespace)
        query = [
            ("watch", "true"),
            ("fieldSelector", f"metadata.name={name}"),
            ("timeoutSeconds", str(int(timeout))),
        ]
        try:
            resp = await api.call_api(
                path,
                "GET",
                query_params=query,
                auth_settings=["BearerToken"],
                _preload_content=False,
                header_params={"Accept": "application/json"},
            )
        except (aiohttp.ClientError, OSError, TimeoutError, ApiException) as e:
            raise classify(e, f"watch {path}") from None
        try:
            if resp.status != 200:
                raise TransientError(f"watch {path}: HTTP {resp.status}")
            async for line in resp.content:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                obj = event.get("object") if isinstance(event, dict) else None
                if isinstance(obj, dict) and (obj.get("metadata") or {}).get("name") == name:
                    yield event
        except (aiohttp.ClientError, OSError) as e:
            raise classify(e, f"watch {path}") from None
        finally:
            resp.release()
