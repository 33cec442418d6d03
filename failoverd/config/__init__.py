"""The configuration file: frozen pydantic models, one module per section, loaded once.

`loader` turns YAML into a Config with `FILE:LINE: field.path: message` errors; the models
live in common (shared types), probes, traffic, plans, replication, service and daemon (the
top-level sections). Nothing downstream reads YAML or the environment.
"""

from failoverd.config.common import CommandSpec, Duration, Model
from failoverd.config.daemon import (
    TOKEN_ENV,
    ApiConfig,
    ClusterConfig,
    Config,
    LeaderElectionConfig,
    LogConfig,
    StateConfig,
)
from failoverd.config.loader import ConfigError, json_schema, load, locate, parse
from failoverd.config.notify import (
    EVENTS,
    PagerDutySink,
    SinkSpec,
    SlackSink,
    WebhookSink,
    sink_labels,
)
from failoverd.config.plans import (
    FailbackConfig,
    FenceConfig,
    PrepareConfig,
    RestoreStep,
    ScaleStep,
)
from failoverd.config.probes import (
    PROBE_KINDS,
    CommandProbe,
    DnsProbe,
    HttpProbe,
    KubernetesProbe,
    ProbeBase,
    Probes,
    ProbeSpec,
    TcpProbe,
    WitnessProbe,
    probe_labels,
)
from failoverd.config.replication import (
    JOB_KINDS,
    KubernetesSyncJob,
    ReplicationJob,
    S3SnapshotJob,
    SyncKind,
)
from failoverd.config.service import Objectives, Policy, ServiceConfig
from failoverd.config.traffic import (
    TRAFFIC_KINDS,
    Elbv2Traffic,
    Rfc2136Traffic,
    Route53Traffic,
    SidedRecord,
    TrafficSpec,
    TsigConfig,
)

__all__ = [
    "EVENTS",
    "JOB_KINDS",
    "PROBE_KINDS",
    "TOKEN_ENV",
    "TRAFFIC_KINDS",
    "ApiConfig",
    "ClusterConfig",
    "CommandProbe",
    "CommandSpec",
    "Config",
    "ConfigError",
    "DnsProbe",
    "Duration",
    "Elbv2Traffic",
    "FailbackConfig",
    "FenceConfig",
    "HttpProbe",
    "KubernetesProbe",
    "KubernetesSyncJob",
    "LeaderElectionConfig",
    "LogConfig",
    "Model",
    "Objectives",
    "PagerDutySink",
    "Policy",
    "PrepareConfig",
    "ProbeBase",
    "ProbeSpec",
    "Probes",
    "ReplicationJob",
    "RestoreStep",
    "Rfc2136Traffic",
    "Route53Traffic",
    "S3SnapshotJob",
    "ScaleStep",
    "ServiceConfig",
    "SidedRecord",
    "SinkSpec",
    "SlackSink",
    "StateConfig",
    "SyncKind",
    "TcpProbe",
    "TrafficSpec",
    "TsigConfig",
    "WebhookSink",
    "WitnessProbe",
    "json_schema",
    "load",
    "locate",
    "parse",
    "probe_labels",
    "sink_labels",
]
