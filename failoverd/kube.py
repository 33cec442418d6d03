"""The one place that builds kubernetes-asyncio clients, one per cluster, and the few
Kubernetes operations failoverd needs: scale a workload, read how many replicas are ready.

Errors come out classified: 401/403/404/422 mean the config or RBAC is wrong (PermanentError);
409, 429, 5xx and connection problems are worth retrying (TransientError).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from failoverd import config
from failoverd.digest import sha256_hex
from failoverd.errors import ActionError, PermanentError, TransientError

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
        reason = _api_message(e)
        text = f"{what}: HTTP {e.status} {reason}"
        if e.status in (401, 403, 404, 422):
            return PermanentError(text)
        return TransientError(text)
    if isinstance(e, ActionError):
        return e
    return TransientError(f"{what}: {type(e).__name__}: {e}".rstrip(": "))


def _api_message(e: ApiException) -> str:
    try:
        return str(json.loads(e.body or b"{}").get("message", e.reason))[:300]
    except (TypeError, ValueError, AttributeError):
        return str(e.reason)


async def scale(
    api: k8s.ApiClient, kind: WorkloadKind, namespace: str, name: str, replicas: int
) -> None:
    """Set a workload's replicas through its scale subresource (idempotent)."""
    apps = k8s.AppsV1Api(api)
    body = {"spec": {"replicas": replicas}}
    what = f"scale {kind} {namespace}/{name} to {replicas}"
    try:
        if kind == "deployment":
            await apps.patch_namespaced_deployment_scale(name, namespace, body)
        else:
            await apps.patch_namespaced_stateful_set_scale(name, namespace, body)
    except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as e:
        raise classify(e, what) from None


async def ready_replicas(
    api: k8s.ApiClient, kind: WorkloadKind, namespace: str, name: str
) -> tuple[int, int]:
    """(wanted replicas, ready replicas) of a workload."""
    apps = k8s.AppsV1Api(api)
    try:
        obj: Any
        if kind == "deployment":
            obj = await apps.read_namespaced_deployment(name, namespace)
        else:
            obj = await apps.read_namespaced_stateful_set(name, namespace)
    except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as e:
        raise classify(e, f"read {kind} {namespace}/{name}") from None
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
_SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation",
                    "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")  # fmt: skip

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
        k: v for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration" and not k.startswith("deployment.kubernetes.io/")
    }  # fmt: skip
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
    try:
        try:
            await getattr(client, f"create_namespaced_{res}")(meta["namespace"], obj)
            return "created"
        except ApiException as e:
            if e.status != 409:
                raise
        await getattr(client, f"patch_namespaced_{res}")(meta["name"], meta["namespace"], obj)
        return "patched"
    except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as e:
        raise classify(e, what) from None


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
    try:
        await getattr(api_cls(api), f"replace_namespaced_{res}")(
            meta["name"], meta["namespace"], body
        )
    except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as e:
        raise classify(e, f"replace {kind} {meta['namespace']}/{meta['name']}") from None


async def create_object(api: k8s.ApiClient, obj: dict[str, Any]) -> bool:
    """Create obj; False (and nothing changed) when it already exists."""
    kind, meta = obj["kind"], obj["metadata"]
    api_cls, res = KINDS[kind]
    try:
        await getattr(api_cls(api), f"create_namespaced_{res}")(meta["namespace"], obj)
        return True
    except ApiException as e:
        if e.status == 409:
            return False
        raise classify(e, f"create {kind} {meta.get('namespace')}/{meta['name']}") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise classify(e, f"create {kind} {meta.get('namespace')}/{meta['name']}") from None


async def delete_object(api: k8s.ApiClient, kind: str, namespace: str, name: str) -> None:
    api_cls, res = KINDS[kind]
    try:
        await getattr(api_cls(api), f"delete_namespaced_{res}")(name, namespace)
    except ApiException as e:
        if e.status != 404:  # already gone is what we wanted
            raise classify(e, f"delete {kind} {namespace}/{name}") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise classify(e, f"delete {kind} {namespace}/{name}") from None


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
