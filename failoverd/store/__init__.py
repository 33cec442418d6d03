"""Persisted state: typed records (records.py), their JSON (codec.py), and the backends.

base.py says what every backend offers; file.py is the bastion's (local files, atomic and
fsync'd, locked against a second daemon), kubernetes.py the arbiter cluster's (ConfigMaps,
conditional on resourceVersion and fenced by the leader's epoch).
"""

from failoverd.store.base import Deposed, StateStore, StoreError, StoreUnavailable
from failoverd.store.codec import SCHEMA_VERSION
from failoverd.store.file import FileStore
from failoverd.store.records import Event, JobRecord, PlanRecord, ServiceRecord, Step

__all__ = [
    "SCHEMA_VERSION",
    "Deposed",
    "Event",
    "FileStore",
    "JobRecord",
    "PlanRecord",
    "ServiceRecord",
    "StateStore",
    "Step",
    "StoreError",
    "StoreUnavailable",
]
