"""The configuration file: frozen pydantic models, loaded once at the edge.

Every error names the file, the line and the field path (`FILE:LINE: services.web.policy.interval:
...`) because the person reading it is editing YAML at 3 a.m. Unknown keys are errors: a typo must
never silently disable a probe. Secrets are read here, from files or the environment, into
SecretStr values that never print; nothing downstream reads YAML or the environment.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from failoverd.durations import PATTERN, parse_duration

TOKEN_ENV = "FAILOVERD_API_TOKEN"  # noqa: S105 (a variable name, not a secret)


class ConfigError(Exception):
    """A config file that cannot be used; `errors` holds one `FILE:LINE: path: message` each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"durations are strings with a unit, like '500ms' or '2s', not {value!r}")
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["500ms", "2s", "5m"]}),
]


def _quorum(value: Any) -> str | int:
    if value in ("any", "majority", "all"):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"quorum must be any, majority, all or a whole number >= 1, not {value!r}")


Quorum = Annotated[
    str | int,
    BeforeValidator(_quorum),
    WithJsonSchema(
        {"oneOf": [{"enum": ["any", "majority", "all"]}, {"type": "integer", "minimum": 1}]}
    ),
]


def _host_port(value: str, default_port: int | None = None) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError(f"expected HOST:PORT, got {value!r}")
        host, port = value, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT with a port from 1 to 65535, got {value!r}")
    return host, int(port)


class Model(BaseModel):
    """Base of every section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_of(model: BaseModel, fields: tuple[str, ...], what: str) -> str:
    chosen = [f for f in fields if getattr(model, f) is not None]
    if len(chosen) != 1:
        found = ", ".join(chosen) or "none"
        raise ValueError(f"exactly one {what} of {', '.join(fields)} is required (found: {found})")
    return chosen[0]


def _read_secret(path: Path | None, env: str | None) -> SecretStr | None:
    if path is not None:
        return SecretStr(path.read_text().strip())
    if env is not None:
        return SecretStr(os.environ[env])
    return None


def _check_secret_file(value: Path | None) -> Path | None:
    if value is not None:
        value = value.expanduser()
        if not value.is_file():
            raise ValueError(f"secret file {str(value)!r} does not exist")
        if not os.access(value, os.R_OK):
            raise ValueError(f"secret file {str(value)!r} is not readable")
    return value


def _check_secret_env(value: str | None) -> str | None:
    if value is not None and value not in os.environ:
        raise ValueError(f"environment variable {value} is not set")
    return value


# --------------------------------------------------------------------------- top level sections


class ApiConfig(Model):
    """The admin API and /metrics listener."""

    listen: str = "127.0.0.1:9180"
    token_file: Path | None = None
    _token: SecretStr | None = PrivateAttr(default=None)

    _v_token_file = field_validator("token_file")(_check_secret_file)

    @field_validator("listen")
    @classmethod
    def _v_listen(cls, v: str) -> str:
        _host_port(v)
        return v

    def model_post_init(self, context: Any, /) -> None:
        self._token = _read_secret(self.token_file, TOKEN_ENV if TOKEN_ENV in os.environ else None)

    @property
    def host_port(self) -> tuple[str, int]:
        return _host_port(self.listen)

    @property
    def token(self) -> SecretStr | None:
        """The bearer token for POST endpoints (token_file, else $FAILOVERD_API_TOKEN)."""
        return self._token


class StateConfig(Model):
    path: Path = Path("/var/lib/failoverd/state.json")

    @field_validator("path")
    @classmethod
    def _v_path(cls, v: Path) -> Path:
        return v.expanduser()


class LogConfig(Model):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class ClusterConfig(Model):
    """How to reach one Kubernetes cluster: a kubeconfig (and context) or in-cluster credentials."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False

    @field_validator("kubeconfig")
    @classmethod
    def _v_kubeconfig(cls, v: str | None) -> str | None:
        return os.path.expanduser(v) if v else v

    @model_validator(mode="after")
    def _v_access(self) -> ClusterConfig:
        if self.in_cluster == (self.kubeconfig is not None):
            raise ValueError("set either kubeconfig (with an optional context) or in_cluster: true")
        return self


class LeaderElectionConfig(Model):
    cluster: str
    namespace: str = "failoverd"
    name: str = "failoverd"
    lease_duration: Duration = 15.0
    renew_deadline: Duration = 10.0
    retry_period: Duration = 2.0

    @model_validator(mode="after")
    def _v_order(self) -> LeaderElectionConfig:
        # A leader that cannot renew must stop acting before anyone else may take the lease.
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")
        return self


class WebhookConfig(Model):
    url: str
    timeout: Duration = 5.0

    @field_validator("url")
    @classmethod
    def _v_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("webhook url must start with http:// or https://")
        return v


class NotifyConfig(Model):
    webhook: WebhookConfig


# --------------------------------------------------------------------------- probes


class ProbeBase(Model):
    name: str | None = None
    timeout: Duration = 1.0
    role: Literal["app", "cluster"] = "app"

    @field_validator("timeout")
    @classmethod
    def _v_timeout(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("timeout must be greater than 0")
        return v


class HttpProbe(ProbeBase):
    url: str
    expect_status: list[int] = Field(default_factory=lambda: [200], min_length=1)
    body_contains: str | None = None
    verify_tls: bool = True
    ca_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _v_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return v


class TcpProbe(ProbeBase):
    host: str
    port: int = Field(ge=1, le=65535)


class DnsProbe(ProbeBase):
    server: str
    qname: str = Field(alias="name")
    type: Literal["A", "AAAA", "CNAME", "TXT"] = "A"
    expect: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("server")
    @classmethod
    def _v_server(cls, v: str) -> str:
        _host_port(v, 53)
        return v

    @property
    def host_port(self) -> tuple[str, int]:
        return _host_port(self.server, 53)


class KubernetesProbe(ProbeBase):
    role: Literal["app", "cluster"] = "cluster"
    cluster: str
    namespace: str = "default"
    deployment: str | None = None
    statefulset: str | None = None
    min_ready: int = Field(default=1, ge=0)


class CommandSpec(Model):
    argv: list[str] = Field(min_length=1)
    timeout: Duration = 30.0


class CommandProbe(CommandSpec, ProbeBase):
    timeout: Duration = 1.0


PROBE_KINDS = ("http", "tcp", "dns", "kubernetes", "command")


class ProbeSpec(Model):
    """One probe: a mapping with exactly one key, the probe kind."""

    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    dns: DnsProbe | None = None
    kubernetes: KubernetesProbe | None = None
    command: CommandProbe | None = None

    @model_validator(mode="after")
    def _v_kind(self) -> ProbeSpec:
        _one_of(self, PROBE_KINDS, "probe kind")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in PROBE_KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> ProbeBase:
        probe: ProbeBase = getattr(self, self.kind)
        return probe


def probe_labels(specs: list[ProbeSpec]) -> list[str]:
    """Metric label of each probe: its name, else its kind, suffixed where a kind repeats."""
    kinds = [s.kind for s in specs]
    return [
        s.spec.name or (s.kind if kinds.count(s.kind) == 1 else f"{s.kind}-{i}")
        for i, s in enumerate(specs)
    ]


class Probes(Model):
    primary: list[ProbeSpec] = Field(min_length=1)
    standby: list[ProbeSpec] = Field(min_length=1)


# --------------------------------------------------------------------------- policy and objectives


class Policy(Model):
    interval: Duration = 2.0
    failure_threshold: int = Field(default=3, ge=1)
    recovery_threshold: int = Field(default=5, ge=1)
    quorum: Quorum = "majority"
    auto_failback: bool = False
    hold_down: Duration = 600.0
    step_attempts: int = Field(default=12, ge=1, le=100)
    step_timeout: Duration = 10.0

    @field_validator("interval", "step_timeout")
    @classmethod
    def _v_positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be greater than 0")
        return v


class Objectives(Model):
    rto: Duration | None = None
    rpo: Duration | None = None


# --------------------------------------------------------------------------- traffic


class TsigConfig(Model):
    name: str
    algorithm: Literal["hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1"] = (
        "hmac-sha256"
    )
    secret_file: Path | None = None
    secret_env: str | None = None
    _secret: SecretStr | None = PrivateAttr(default=None)

    _v_file = field_validator("secret_file")(_check_secret_file)
    _v_env = field_validator("secret_env")(_check_secret_env)

    @model_validator(mode="after")
    def _v_source(self) -> TsigConfig:
        _one_of(self, ("secret_file", "secret_env"), "secret source")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._secret = _read_secret(self.secret_file, self.secret_env)

    @property
    def secret(self) -> SecretStr:
        assert self._secret is not None
        return self._secret


class SidedRecord(Model):
    """A DNS record whose values name the serving side."""

    name: str
    type: Literal["A", "AAAA", "CNAME", "TXT"] = "A"
    ttl: int = Field(default=30, ge=0)
    primary: list[str] = Field(min_length=1)
    standby: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _v_values(self) -> SidedRecord:
        if sorted(self.primary) == sorted(self.standby):
            raise ValueError(
                "primary and standby values are the same: a switch would change nothing"
            )
        if self.type in ("A", "AAAA"):
            for v in (*self.primary, *self.standby):
                try:
                    ipaddress.ip_address(v)
                except ValueError:
                    raise ValueError(
                        f"{v!r} is not an IP address for a {self.type} record"
                    ) from None
        return self


class Rfc2136Traffic(SidedRecord):
    server: str
    zone: str
    timeout: Duration = 2.0
    tsig: TsigConfig | None = None

    @field_validator("server")
    @classmethod
    def _v_server(cls, v: str) -> str:
        _host_port(v, 53)
        return v

    @model_validator(mode="after")
    def _v_zone(self) -> Rfc2136Traffic:
        zone, name = self.zone.rstrip(".").lower(), self.name.rstrip(".").lower()
        if name != zone and not name.endswith("." + zone):
            raise ValueError(f"name {self.name!r} is not inside zone {self.zone!r}")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        return _host_port(self.server, 53)


class Route53Traffic(SidedRecord):
    hosted_zone_id: str
    region: str | None = None
    endpoint_url: str | None = None
    insync_timeout: Duration = 120.0
    insync_poll: Duration = 2.0


class Elbv2Traffic(Model):
    listener_arn: str
    primary_target_group: str
    standby_target_group: str
    region: str | None = None
    endpoint_url: str | None = None


TRAFFIC_KINDS = ("rfc2136", "route53", "elbv2")


class TrafficSpec(Model):
    """Exactly one traffic switcher."""

    rfc2136: Rfc2136Traffic | None = None
    route53: Route53Traffic | None = None
    elbv2: Elbv2Traffic | None = None

    @model_validator(mode="after")
    def _v_kind(self) -> TrafficSpec:
        _one_of(self, TRAFFIC_KINDS, "traffic kind")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in TRAFFIC_KINDS if getattr(self, k) is not None)


# --------------------------------------------------------------------------- plan steps


class ScaleStep(Model):
    cluster: str
    namespace: str = "default"
    deployment: str | None = None
    statefulset: str | None = None
    replicas: int = Field(ge=0)

    @model_validator(mode="after")
    def _v_target(self) -> ScaleStep:
        _one_of(self, ("deployment", "statefulset"), "workload")
        return self

    @property
    def kind(self) -> Literal["deployment", "statefulset"]:
        return "deployment" if self.deployment else "statefulset"

    @property
    def name(self) -> str:
        return self.deployment or self.statefulset or ""


class RestoreStep(Model):
    """Cold mode: apply the newest snapshot of an s3_snapshot job before scaling up."""

    snapshot_job: str
    cluster: str | None = None  # default: the side being prepared (its label names a cluster)


class PrepareConfig(Model):
    scale: list[ScaleStep] = Field(default_factory=list)
    restore: RestoreStep | None = None
    command: CommandSpec | None = None
    timeout: Duration = 600.0


class FenceConfig(Model):
    scale: list[ScaleStep] = Field(default_factory=list)
    command: CommandSpec | None = None
    timeout: Duration = 60.0


class FailbackConfig(Model):
    """What a failback does besides switching: fence the standby's writers, prepare the primary."""

    fence: FenceConfig | None = None
    prepare: PrepareConfig | None = None


# --------------------------------------------------------------------------- replication


SyncKind = Literal["ConfigMap", "Secret", "Deployment", "StatefulSet", "Service"]


def _default_kinds() -> list[SyncKind]:
    return ["ConfigMap", "Secret", "Deployment", "Service"]


class KubernetesSyncJob(Model):
    source: str = Field(alias="from")
    to: str
    namespaces: list[str] = Field(min_length=1)
    kinds: list[SyncKind] = Field(default_factory=_default_kinds)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class S3SnapshotJob(Model):
    cluster: str
    namespaces: list[str] = Field(min_length=1)
    kinds: list[SyncKind] = Field(default_factory=_default_kinds)
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    sse: Literal["AES256", "aws:kms"] = "AES256"
    kms_key_id: str | None = None
    keep: int = Field(default=10, ge=1)


class ReplicationJob(Model):
    every: Duration
    timeout: Duration | None = None
    kubernetes: KubernetesSyncJob | None = None
    s3_snapshot: S3SnapshotJob | None = None
    command: CommandSpec | None = None

    @model_validator(mode="after")
    def _v_kind(self) -> ReplicationJob:
        _one_of(self, ("kubernetes", "s3_snapshot", "command"), "job kind")
        return self


# --------------------------------------------------------------------------- service and file


class ServiceConfig(Model):
    mode: Literal["hot", "warm", "cold"] = "hot"
    primary: str
    standby: str
    objectives: Objectives = Objectives()
    probes: Probes
    policy: Policy = Policy()
    traffic: TrafficSpec
    prepare: PrepareConfig | None = None
    fence: FenceConfig | None = None
    failback: FailbackConfig | None = None
    replication: dict[str, ReplicationJob] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _v_service(self) -> ServiceConfig:
        if self.primary == self.standby:
            raise ValueError("primary and standby must be different sides")
        for side, specs in (("primary", self.probes.primary), ("standby", self.probes.standby)):
            for i, p in enumerate(specs):
                if p.spec.timeout > self.policy.interval:
                    raise ValueError(
                        f"probes.{side}[{i}].{p.kind}.timeout {p.spec.timeout:g}s is longer than policy.interval "
                        f"{self.policy.interval:g}s: rounds would overrun and detection would slow down"
                    )
        if self.mode != "hot" and not any(p.spec.role == "cluster" for p in self.probes.standby):
            raise ValueError(
                f"mode {self.mode} expects the standby app to be down, so probes.standby needs a "
                "probe with role: cluster (a kubernetes probe is one) to say the standby is ready"
            )
        if self.prepare and self.prepare.restore:
            job = self.replication.get(self.prepare.restore.snapshot_job)
            if job is None or job.s3_snapshot is None:
                raise ValueError(
                    f"prepare.restore.snapshot_job {self.prepare.restore.snapshot_job!r} "
                    "is not an s3_snapshot job of this service's replication"
                )
        return self


class Config(Model):
    api: ApiConfig = ApiConfig()
    state: StateConfig = StateConfig()
    log: LogConfig = LogConfig()
    clusters: dict[str, ClusterConfig] = Field(default_factory=dict)
    leader_election: LeaderElectionConfig | None = None
    notify: list[NotifyConfig] = Field(default_factory=list)
    services: dict[str, ServiceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _v_clusters(self) -> Config:
        missing = sorted(c for c in self._cluster_refs() if c not in self.clusters)
        if missing:
            raise ValueError(
                f"cluster(s) {', '.join(missing)} used but not defined under clusters:"
            )
        return self

    def _cluster_refs(self) -> set[str]:
        refs = {self.leader_election.cluster} if self.leader_election else set()
        for svc in self.services.values():
            for p in (*svc.probes.primary, *svc.probes.standby):
                if p.kubernetes:
                    refs.add(p.kubernetes.cluster)
            fb = svc.failback or FailbackConfig()
            for section in (svc.prepare, svc.fence, fb.prepare, fb.fence):
                refs.update(s.cluster for s in (section.scale if section else []))
            for prep, side in ((svc.prepare, svc.standby), (fb.prepare, svc.primary)):
                if prep is not None and prep.restore is not None:
                    refs.add(prep.restore.cluster or side)
            for job in svc.replication.values():
                if job.kubernetes:
                    refs.update((job.kubernetes.source, job.kubernetes.to))
                if job.s3_snapshot:
                    refs.add(job.s3_snapshot.cluster)
        return refs


# --------------------------------------------------------------------------- loading with lines

Path_ = tuple[str | int, ...]


def _compose(text: str, name: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML into plain data plus the line of every key and list item."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{name}:{line}: {getattr(e, 'problem', None) or e}"]) from None
    if node is None:
        raise ConfigError([f"{name}:1: the file is empty"])
    lines: dict[Path_, int] = {(): node.start_mark.line + 1}
    errors: list[str] = []

    def walk(n: yaml.Node, path: Path_) -> None:
        if isinstance(n, yaml.MappingNode):
            seen: set[Any] = set()
            for k, v in n.value:
                key = k.value
                if key in seen:
                    errors.append(
                        f"{name}:{k.start_mark.line + 1}: {_dotted((*path, key))}: duplicate key"
                    )
                seen.add(key)
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    walk(node, ())
    if errors:
        raise ConfigError(errors)
    data = yaml.SafeLoader(text).get_single_data()
    return data, lines


def _dotted(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _line_of(loc: Path_, lines: Mapping[Path_, int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def parse(text: str, name: str = "<config>") -> Config:
    """Validate YAML text; ConfigError lists every problem as `NAME:LINE: field.path: message`."""
    data, lines = _compose(text, name)
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{name}:1: the file must be a mapping of sections (services:, api:, ...)"]
        )
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        errors = []
        for err in e.errors(include_url=False):
            # pydantic puts model-validator failures under the model; drop its internal tags
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (misspelt, or in the wrong section?)"
            errors.append(f"{name}:{_line_of(loc, lines)}: {_dotted(loc)}: {msg}")
        raise ConfigError(errors) from None


def load(path: str | Path) -> Config:
    """Read and validate a config file (see parse)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError([f"{p}:0: cannot read the file: {e.strerror}"]) from None
    return parse(text, str(p))


def json_schema() -> dict[str, Any]:
    return Config.model_json_schema(by_alias=True)
