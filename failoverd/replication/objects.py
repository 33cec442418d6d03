"""Kubernetes objects as replication copies them: cleaned of what belongs to the source cluster,
hashed to see a change, applied (created or merged), and listed without what every cluster
makes for itself. The requests themselves are clients/kube.py's (one client for every verb).
"""

from __future__ import annotations

from typing import Any

from failoverd.clients import kube
from failoverd.kit.digest import sha256_hex

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

# Objects every cluster makes for itself: never copied.
_SKIP = {("ConfigMap", "kube-root-ca.crt"), ("Service", "kubernetes")}


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


async def apply_object(api: kube.ApiClient, obj: dict[str, Any]) -> str:
    """Create obj, or merge it into the object of its name; "created" or "patched"."""
    if await kube.create_object(api, obj):
        return "created"
    await kube.patch_object(api, obj)
    return "patched"


def _without_nulls(value: Any) -> Any:
    """The object without its null fields, as the SDK's serialisation gave it before: the
    copies' hashes (and snapshots) stay the same across the change of client."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


async def read_objects(api: kube.ApiClient, namespace: str, kind: str) -> list[dict[str, Any]]:
    """Every object of a kind in a namespace worth copying (not the cluster's own)."""
    return [
        _without_nulls(obj)
        for obj in await kube.list_objects(api, kind, namespace)
        if (kind, obj["metadata"]["name"]) not in _SKIP
        and not (kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token")
    ]
