"""Persisted state: typed records (records.py), their JSON (codec.py), and the backends.

file.py is the bastion's backend (one local file, atomic and fsync'd, locked against a second
daemon).
"""

from failoverd.store.codec import SCHEMA_VERSION
from failoverd.store.file import Store, StoreError
from failoverd.store.records import Event, JobRecord, PlanRecord, ServiceRecord, Step

__all__ = [
    "SCHEMA_VERSION", "Event", "JobRecord", "PlanRecord", "ServiceRecord", "Step", "Store",
    "StoreError",
]  # fmt: skip
