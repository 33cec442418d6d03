"""Every Prometheus collector of failoverd, defined once, in its own registry.

A registry per daemon (not the global one) lets tests run several daemons in one process.
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from failoverd import config
from failoverd.machine import State, Trigger

CONTENT_TYPE = CONTENT_TYPE_LATEST
_PROBE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# The label values the counters take (tests/test_metrics.py checks them against the code)
TRIGGERS: tuple[str, ...] = get_args(Trigger)
PLAN_RESULTS = ("success", "failed")
DRILL_KINDS = ("readiness", "full")
DRILL_OUTCOMES = ("passed", "failed", "interrupted", "blocked")
NOTIFY_RESULTS = ("sent", "retry", "dropped")


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.probe_up = Gauge(
            "failoverd_probe_up",
            "1 when the probe's last result was healthy",
            ["service", "side", "probe"],
            registry=r,
        )
        self.probe_duration = Histogram(
            "failoverd_probe_duration_seconds",
            "Probe latency",
            ["service", "side", "probe"],
            buckets=_PROBE_BUCKETS,
            registry=r,
        )
        self.service_state = Gauge(
            "failoverd_service_state",
            "1 for the service's current state",
            ["service", "state"],
            registry=r,
        )
        self.active_side = Gauge(
            "failoverd_active_side",
            "1 for the side serving traffic",
            ["service", "side"],
            registry=r,
        )
        self.failovers = Counter(
            "failoverd_failovers",
            "Failover and failback plans run",
            ["service", "trigger", "result"],
            registry=r,
        )
        self.last_rto = Gauge(
            "failoverd_last_failover_rto_seconds",
            "RTO of the last failover or failback",
            ["service"],
            registry=r,
        )
        self.last_rpo = Gauge(
            "failoverd_last_failover_rpo_seconds",
            "RPO of the last failover or failback",
            ["service"],
            registry=r,
        )
        self.plan_step_duration = Histogram(
            "failoverd_plan_step_duration_seconds",
            "Duration of plan steps",
            ["service", "step"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.replication_last_success = Gauge(
            "failoverd_replication_last_success_timestamp_seconds",
            "Unix time of the replication job's newest success",
            ["service", "job"],
            registry=r,
        )
        self.replication_duration = Histogram(
            "failoverd_replication_duration_seconds",
            "Replication job run time",
            ["service", "job"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.replication_failures = Counter(
            "failoverd_replication_failures",
            "Failed replication job runs",
            ["service", "job"],
            registry=r,
        )
        self.leader = Gauge("failoverd_leader", "1 while this instance is the leader", registry=r)
        self.persist_failures = Counter(
            "failoverd_persist_failures_total",
            "Saves of a service's state that failed (disk full, read-only, I/O error)",
            ["service"],
            registry=r,
        )
        self.round_errors = Counter(
            "failoverd_round_errors_total",
            "Rounds that ended in an unexpected error (logged as round_failed)",
            ["service"],
            registry=r,
        )
        self.task_failures = Counter(
            "failoverd_task_failures_total",
            "Background tasks that died of an error (logged as task_failed)",
            ["task"],
            registry=r,
        )
        self.drills = Counter(
            "failoverd_drills",
            "DR drills by kind and outcome",
            ["service", "kind", "outcome"],
            registry=r,
        )
        self.drill_last_success = Gauge(
            "failoverd_drill_last_success_timestamp_seconds",
            "When the last drill of this kind passed",
            ["service", "kind"],
            registry=r,
        )
        self.last_client_rto = Gauge(
            "failoverd_last_failover_client_rto_seconds",
            "Outage start to the last listed recursive resolver answering the move",
            ["service"],
            registry=r,
        )
        self.witness_age = Gauge(
            "failoverd_witness_age_seconds",
            "How old a witness's verdict was when this daemon last read it",
            ["service", "side", "probe"],
            registry=r,
        )
        self.side_ready = Gauge(
            "failoverd_side_ready",
            "1 while the side may receive traffic (recovery_threshold healthy rounds)",
            ["service", "side"],
            registry=r,
        )
        self.rpo = Gauge(
            "failoverd_rpo_seconds",
            "The service's RPO now: the age of the oldest newest-success of its replication jobs",
            ["service"],
            registry=r,
        )
        self.rpo_objective = Gauge(
            "failoverd_rpo_objective_seconds",
            "objectives.rpo of the service",
            ["service"],
            registry=r,
        )
        self.notifications = Counter(
            "failoverd_notifications",
            "Notification deliveries by sink and result (sent, retry, dropped)",
            ["sink", "result"],
            registry=r,
        )
        self.notify_outbox = Gauge(
            "failoverd_notify_outbox_events",
            "Events in the outbox not yet accepted by every sink they are for",
            registry=r,
        )
        self.healthy = Gauge(
            "failoverd_healthy",
            "1 while every service's loop runs, completes rounds and can save its state",
            registry=r,
        )

    def set_state(self, service: str, state: State, active: str) -> None:
        for s in State:
            self.service_state.labels(service, s.value).set(1 if s == state else 0)
        for side in ("primary", "standby"):
            self.active_side.labels(service, side).set(1 if side == active else 0)

    def known(self, cfg: config.Config) -> None:
        """Export every counter at 0 for each label set `cfg` makes known (at start and after a
        reload). A series born at 1 has no sample before it, so increase() of its first event is
        nothing: the first failover since a start would not alert."""
        for service, svc in cfg.services.items():
            for trigger in TRIGGERS:
                for result in PLAN_RESULTS:
                    self.failovers.labels(service, trigger, result)
            for job in svc.replication:
                self.replication_failures.labels(service, job)
            for kind in DRILL_KINDS:
                for outcome in DRILL_OUTCOMES:
                    self.drills.labels(service, kind, outcome)
        for sink in config.sink_labels(cfg.notify):
            for result in NOTIFY_RESULTS:
                self.notifications.labels(sink, result)

    def render(self) -> bytes:
        return generate_latest(self.registry)
