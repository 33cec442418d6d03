"""What GET /v1/status answers, as models: the contract the CLI reads (and a test holds the
daemon to), so a renamed key fails a test instead of printing `-` at 3 a.m.

The models name what a reader relies on and allow the rest (a newer daemon may add keys; an
older CLI still reads what it knows).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Side = Literal["primary", "standby"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ProbeAnswer(_Answer):
    probe: str
    ok: bool
    latency: float
    reason: str


class ReplicationAnswer(_Answer):
    jobs: dict[str, dict[str, object]] = {}
    rpo_seconds: float | None = None
    rpo_objective_seconds: float | None = None
    warning: str | None = None


class PlanAnswer(_Answer):
    """A plan in flight or the last one (its journal: kind, result, trigger, RTO, steps)."""

    kind: Literal["failover", "failback"]
    result: str
    trigger: str
    rto_seconds: float | None = None
    finished: float | None = None


class ServiceAnswer(_Answer):
    state: str
    active: Side
    mode: Literal["hot", "warm", "cold"]
    blocked: str | None = None
    paused_until: float | None = None
    ready: dict[Side, bool] = {}
    probes: dict[Side, list[ProbeAnswer]] = {}
    last_round_age_seconds: float | None = None
    replication: ReplicationAnswer = ReplicationAnswer()
    plan: PlanAnswer | None = None
    last_failover: PlanAnswer | None = None


class StatusAnswer(_Answer):
    """GET /v1/status."""

    leader: bool
    services: dict[str, ServiceAnswer]
