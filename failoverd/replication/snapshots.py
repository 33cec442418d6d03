"""Snapshots of Kubernetes objects in S3: the format, the reader, the writer.

One S3 object per snapshot, `PREFIX<id>.json.gz`, ids sortable by time, gzip'd JSON:
    {"format": "failoverd-snapshot/1", "id", "created", "cluster", "namespaces", "kinds",
     "manifest": [{"kind", "namespace", "name", "sha256"}], "objects": [...]}
Each object's sha256 is over its canonical JSON. A restore reads the newest snapshot, checks
that its manifest and objects agree one for one, and refuses the whole snapshot on any
mismatch: restoring tampered or truncated state into the cluster that is about to take traffic
is worse than not restoring. Written with server-side encryption (AES256 or aws:kms).
"""

from __future__ import annotations

import gzip
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from failoverd import config
from failoverd.clients import aws
from failoverd.kit.digest import sha256_hex
from failoverd.kit.errors import PermanentError, TransientError

FORMAT = "failoverd-snapshot/1"
SUFFIX = ".json.gz"
_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}" + re.escape(SUFFIX))


def checksum(obj: dict[str, Any]) -> str:
    return sha256_hex(obj)


def new_id(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class Snapshot:
    id: str
    key: str
    created: float
    objects: list[dict[str, Any]]


def encode(
    objects: list[dict[str, Any]],
    *,
    snapshot_id: str,
    created: float,
    cluster: str,
    namespaces: list[str],
    kinds: list[str],
) -> bytes:
    manifest = [
        {
            "kind": o["kind"],
            "namespace": o["metadata"].get("namespace"),
            "name": o["metadata"]["name"],
            "sha256": checksum(o),
        }
        for o in objects
    ]
    doc = {
        "format": FORMAT,
        "id": snapshot_id,
        "created": created,
        "cluster": cluster,
        "namespaces": namespaces,
        "kinds": kinds,
        "manifest": manifest,
        "objects": objects,
    }
    return gzip.compress(json.dumps(doc, sort_keys=True).encode(), mtime=0)


def decode(key: str, data: bytes) -> Snapshot:
    """Parse and verify a snapshot; PermanentError naming what is wrong."""
    try:
        doc = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError) as e:
        raise PermanentError(
            f"snapshot {key} is unreadable ({type(e).__name__}): refusing to restore it"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PermanentError(f"snapshot {key} is not a {FORMAT} document: refusing to restore it")
    manifest, objects = doc.get("manifest") or [], doc.get("objects") or []
    if len(manifest) != len(objects):
        raise PermanentError(
            f"snapshot {key}: manifest lists {len(manifest)} objects, it holds {len(objects)}"
        )
    for entry, obj in zip(manifest, objects, strict=True):
        name = f"{entry.get('kind')} {entry.get('namespace')}/{entry.get('name')}"
        if checksum(obj) != entry.get("sha256"):
            raise PermanentError(
                f"snapshot {key}: checksum mismatch for {name}: refusing to restore it"
            )
    return Snapshot(doc["id"], key, float(doc["created"]), objects)


class SnapshotStore:
    """One s3_snapshot job's snapshots: newest() for restores, put() and prune() for the job."""

    def __init__(self, job: config.S3SnapshotJob) -> None:
        self.job = job
        self.client = aws.client("s3", job.region, job.endpoint_url)

    def _mine(self, key: str) -> bool:
        """A snapshot of this job: directly in its folder (not a deeper one), with its name."""
        name = key[len(self.job.prefix) :] if key.startswith(self.job.prefix) else ""
        return bool(_ID.fullmatch(name))

    async def keys(self) -> list[str]:
        """This job's snapshot keys, newest first by the time S3 stored them.

        S3's own time, not this host's: a wall clock that jumped back must not make a new
        snapshot sort older than an old one (and be pruned first).
        """
        found: list[tuple[Any, str]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "Bucket": self.job.bucket,
                "Prefix": self.job.prefix,
                "Delimiter": "/",
            }
            if token:
                kwargs["ContinuationToken"] = token
            page = await aws.call("s3 ListObjectsV2", self.client.list_objects_v2, **kwargs)
            found += [
                (o["LastModified"], o["Key"])
                for o in page.get("Contents", [])
                if self._mine(o["Key"])
            ]
            token = page.get("NextContinuationToken")
            if not token:
                return [key for _, key in sorted(found, reverse=True)]

    async def newest(self) -> tuple[Snapshot, list[str]]:
        """The newest snapshot that verifies, and the newer ones refused (each with why).

        A damaged newest snapshot does not leave the standby empty: the next good one is
        restored, and the refusals are reported. PermanentError when none verifies.
        """
        keys = await self.keys()
        if not keys:
            raise PermanentError(
                f"no snapshot under s3://{self.job.bucket}/{self.job.prefix}: nothing to restore"
            )
        refused: list[str] = []
        for key in keys:
            got = await aws.call(
                "s3 GetObject", self.client.get_object, Bucket=self.job.bucket, Key=key
            )
            try:
                body: bytes = await aws.run(got["Body"].read)
            except OSError as e:
                raise TransientError(f"s3 GetObject {key}: {e}") from None
            try:
                return decode(key, body), refused
            except PermanentError as e:
                refused.append(str(e))
        raise PermanentError(f"no snapshot verifies: {'; '.join(refused)}")

    async def put(self, snapshot_id: str, data: bytes) -> str:
        key = f"{self.job.prefix}{snapshot_id}{SUFFIX}"
        extra: dict[str, Any] = {"ServerSideEncryption": self.job.sse}
        if self.job.sse == "aws:kms" and self.job.kms_key_id:
            extra["SSEKMSKeyId"] = self.job.kms_key_id
        await aws.call(
            "s3 PutObject",
            self.client.put_object,
            Bucket=self.job.bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            ContentEncoding="gzip",
            **extra,
        )
        return key

    async def prune(self) -> list[str]:
        """Delete all but the `keep` newest snapshots; returns the deleted keys."""
        old = (await self.keys())[self.job.keep :]
        for key in old:
            await aws.call(
                "s3 DeleteObject", self.client.delete_object, Bucket=self.job.bucket, Key=key
            )
        return old
