"""Telling the operators: a durable outbox (outbox.py) and its sinks (sinks.py)."""

from failoverd.notify.outbox import MAX_OUTBOX, Notifier
from failoverd.notify.sinks import (
    SEVERITY,
    Emit,
    Notice,
    Sink,
    build_sinks,
    dedup_key,
    no_emit,
    summary,
)

__all__ = [
    "MAX_OUTBOX",
    "SEVERITY",
    "Emit",
    "Notice",
    "Notifier",
    "Sink",
    "build_sinks",
    "dedup_key",
    "no_emit",
    "summary",
]
