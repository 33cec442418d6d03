"""Kubernetes: the one place that builds kubernetes-asyncio clients (one per cluster), and the
one path every request takes, whatever the verb or the object: a plain JSON request
(`request_json`) on the object's API path, bounded by a timeout, its errors sorted once: 401,
403 and 422 mean the config or RBAC is wrong (PermanentError; 403 is Forbidden), 409 is a
Conflict, 404 is "not there" (None), 429, 5xx and connection problems are worth retrying
(TransientError). On it: scale a workload, read its ready replicas, create, patch, replace,
delete and list objects (what replication does with them is replication/objects.py), and
`Objects`, the Lease's and the state ConfigMaps' conditional whole-object writes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from failoverd import config
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


def _message(raw: bytes | str | None, fallback: str = "") -> str:
    """The message of the API server's Status body; else the fallback, else the body itself."""
    try:
        return str(json.loads(raw or b"{}").get("message") or fallback)[:300]
    except (TypeError, ValueError, AttributeError):
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")
        return (fallback or text)[:300]


# kind -> (apiVersion, plural): every object failoverd reads or writes in a workload cluster
RESOURCES: dict[str, tuple[str, str]] = {
    "ConfigMap": ("v1", "configmaps"),
    "Secret": ("v1", "secrets"),
    "Service": ("v1", "services"),
    "Deployment": ("apps/v1", "deployments"),
    "StatefulSet": ("apps/v1", "statefulsets"),
}
WORKLOADS: dict[WorkloadKind, str] = {"deployment": "Deployment", "statefulset": "StatefulSet"}
REQUEST_TIMEOUT = 60.0  # seconds for one request when the caller gives no tighter bound
PATCH = "application/strategic-merge-patch+json"  # what the SDK sent for a dict body


def path_of(kind: str, namespace: str, name: str | None = None) -> str:
    """The API path of an object (or of the kind's collection in a namespace)."""
    api_version, plural = RESOURCES[kind]
    return object_path(api_version, plural, namespace, name)


async def get_object(
    api: ApiClient, kind: str, namespace: str, name: str, timeout: float = REQUEST_TIMEOUT
) -> dict[str, Any]:
    """One object as JSON; PermanentError when it does not exist."""
    what = f"read {kind} {namespace}/{name}"
    obj = await request_json(api, "GET", path_of(kind, namespace, name), None, timeout, what)
    if obj is None:
        raise PermanentError(f"{what}: HTTP 404 not found")
    return obj


async def scale(
    api: ApiClient, kind: WorkloadKind, namespace: str, name: str, replicas: int
) -> None:
    """Set a workload's replicas through its scale subresource (idempotent)."""
    what = f"scale {kind} {namespace}/{name} to {replicas}"
    path = path_of(WORKLOADS[kind], namespace, name) + "/scale"
    body = {"spec": {"replicas": replicas}}
    if await request_json(api, "PATCH", path, body, REQUEST_TIMEOUT, what, PATCH) is None:
        raise PermanentError(f"{what}: HTTP 404 not found")


async def ready_replicas(
    api: ApiClient, kind: WorkloadKind, namespace: str, name: str
) -> tuple[int, int]:
    """(wanted replicas, ready replicas) of a workload."""
    obj = await get_object(api, WORKLOADS[kind], namespace, name)
    wanted = (obj.get("spec") or {}).get("replicas")
    ready = (obj.get("status") or {}).get("readyReplicas") or 0
    return int(1 if wanted is None else wanted), int(ready)


async def list_objects(api: ApiClient, kind: str, namespace: str) -> list[dict[str, Any]]:
    """Every object of a kind in a namespace, each with its apiVersion and kind."""
    what = f"list {kind} in {namespace}"
    listing = await request_json(api, "GET", path_of(kind, namespace), None, REQUEST_TIMEOUT, what)
    if listing is None:
        raise PermanentError(f"{what}: HTTP 404 not found")
    api_version = RESOURCES[kind][0]
    return [
        {**item, "apiVersion": api_version, "kind": kind} for item in listing.get("items") or []
    ]


async def create_object(api: ApiClient, obj: dict[str, Any]) -> bool:
    """Create obj; False (and nothing changed) when it already exists."""
    kind, meta = obj["kind"], obj["metadata"]
    what = f"create {kind} {meta.get('namespace')}/{meta['name']}"
    try:
        out = await request_json(
            api, "POST", path_of(kind, meta["namespace"]), obj, REQUEST_TIMEOUT, what
        )
    except Conflict:
        return False
    if out is None:
        raise PermanentError(f"{what}: the namespace does not exist")
    return True


async def patch_object(api: ApiClient, obj: dict[str, Any]) -> None:
    """Merge obj into the object of its name (strategic merge, as kubectl and the SDK do)."""
    kind, meta = obj["kind"], obj["metadata"]
    what = f"patch {kind} {meta['namespace']}/{meta['name']}"
    path = path_of(kind, meta["namespace"], meta["name"])
    if await request_json(api, "PATCH", path, obj, REQUEST_TIMEOUT, what, PATCH) is None:
        raise PermanentError(f"{what}: HTTP 404 not found")


async def replace_object(api: ApiClient, obj: dict[str, Any], resource_version: str | None) -> None:
    """Replace an object whole (fields removed at the source go at the target too)."""
    kind, meta = obj["kind"], obj["metadata"]
    what = f"replace {kind} {meta['namespace']}/{meta['name']}"
    body = (
        {**obj, "metadata": {**meta, "resourceVersion": resource_version}}
        if resource_version
        else obj
    )
    path = path_of(kind, meta["namespace"], meta["name"])
    if await request_json(api, "PUT", path, body, REQUEST_TIMEOUT, what) is None:
        raise PermanentError(f"{what}: HTTP 404 not found")


async def delete_object(api: ApiClient, kind: str, namespace: str, name: str) -> None:
    """Delete it; already gone is what was wanted."""
    what = f"delete {kind} {namespace}/{name}"
    await request_json(api, "DELETE", path_of(kind, namespace, name), None, REQUEST_TIMEOUT, what)


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


# --------------------------------------------------------------------------- plain JSON objects
# The Lease and the state ConfigMaps are read and written whole as plain JSON, every write
# conditional on metadata.resourceVersion (a stale one is a 409, `Conflict`), and every request
# bounded by the time its caller has left (a black-holed API server must not hold a leader).


async def request_json(
    api: ApiClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    timeout: float,
    what: str | None = None,
    content_type: str = "application/json",
) -> dict[str, Any] | None:
    """One request on a plain JSON object: its answer, None on 404, Conflict on 409.

    Every verb failoverd sends to an API server goes through here: one client, one place where
    errors are sorted (401/403/422 permanent, the rest worth retrying), named by `what`.
    """
    what = what or f"{method} {path}"
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
                header_params={"Accept": "application/json", "Content-Type": content_type},
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
