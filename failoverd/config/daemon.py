"""The daemon-wide sections (api, state, log, clusters) and the whole file (Config)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from failoverd.config.common import (
    Bool,
    Model,
    PositiveDuration,
    check_secret_file,
    host_port,
    read_secret,
)
from failoverd.config.notify import SinkSpec, sink_labels
from failoverd.config.service import ServiceConfig
from failoverd.machine.lease import timing_fault

TOKEN_ENV = "FAILOVERD_API_TOKEN"  # noqa: S105 (a variable name, not a secret)

_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")


def _kube_name(v: str) -> str:
    if not _DNS_LABEL.fullmatch(v):
        raise ValueError(
            f"{v!r} is not a valid Kubernetes name (lowercase letters, digits "
            "and '-', at most 40 characters here)"
        )
    return v


KubeName = Annotated[str, AfterValidator(_kube_name)]  # a namespace or an object name prefix
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class ApiConfig(Model):
    """The admin API and /metrics listener."""

    listen: str = "127.0.0.1:9180"
    token_file: Path | None = None
    token_files: dict[str, Path] = Field(
        default_factory=dict
    )  # name -> file: who acted, in the audit
    allowed_hosts: list[str] = Field(default_factory=list)  # names for /v1 besides IPs, localhost
    _token: SecretStr | None = PrivateAttr(default=None)

    _v_token_file = field_validator("token_file")(check_secret_file)

    @field_validator("listen")
    @classmethod
    def _v_listen(cls, v: str) -> str:
        host_port(v)
        return v

    _named: dict[str, SecretStr] = PrivateAttr(default_factory=dict)

    @field_validator("token_files")
    @classmethod
    def _v_token_files(cls, v: dict[str, Path]) -> dict[str, Path]:
        return {name: check_secret_file(path) or path for name, path in v.items()}

    def model_post_init(self, context: Any, /) -> None:
        self._token = read_secret(self.token_file, TOKEN_ENV if TOKEN_ENV in os.environ else None)
        self._named = {n: SecretStr(p.read_text().strip()) for n, p in self.token_files.items()}

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port(self.listen)

    @property
    def token(self) -> SecretStr | None:
        """The bearer token for POST endpoints (token_file, else $FAILOVERD_API_TOKEN)."""
        return self._token

    @property
    def tokens(self) -> dict[str, SecretStr]:
        """Every accepted token by the name the audit shows ("token" for the single one)."""
        named = dict(self._named)
        if self._token is not None:
            named.setdefault("token", self._token)
        return named


class KubernetesStateConfig(Model):
    """The state in ConfigMaps of one namespace: NAME-svc-SERVICE, NAME-outbox, NAME-audit."""

    cluster: str
    namespace: KubeName = "failoverd"
    name: KubeName = "failoverd-state"


class StateConfig(Model):
    path: Path = Path("/var/lib/failoverd/state.json")
    kubernetes: KubernetesStateConfig | None = None

    @field_validator("path")
    @classmethod
    def _v_path(cls, v: Path) -> Path:
        return v.expanduser()

    @model_validator(mode="after")
    def _v_one(self) -> StateConfig:
        if self.kubernetes is not None and "path" in self.model_fields_set:
            raise ValueError("set exactly one of path (a local file) and kubernetes (ConfigMaps)")
        return self


class LogConfig(Model):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class ClusterConfig(Model):
    """How to reach one Kubernetes cluster: a kubeconfig (and context) or in-cluster credentials."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: Bool = False

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
    namespace: KubeName = "failoverd"
    name: KubeName = "failoverd"

    lease_duration: PositiveDuration = 15.0
    renew_deadline: PositiveDuration = 10.0
    retry_period: PositiveDuration = 2.0

    @model_validator(mode="after")
    def _v_order(self) -> LeaderElectionConfig:
        # A leader that cannot renew must stop acting before anyone else may take the lease.
        fault = timing_fault(self.lease_duration, self.renew_deadline, self.retry_period)
        if fault is not None:
            raise ValueError(fault)
        return self


class Config(Model):
    api: ApiConfig = ApiConfig()
    state: StateConfig = StateConfig()
    log: LogConfig = LogConfig()
    clusters: dict[str, ClusterConfig] = Field(default_factory=dict)
    leader_election: LeaderElectionConfig | None = Field(default=None, validate_default=True)
    notify: list[SinkSpec] = Field(default_factory=list)
    observe_only: Bool = False  # every service only observes (a witness instance)
    services: dict[str, ServiceConfig] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _v_observe_only(cls, data: Any) -> Any:
        """The global observe_only is each service's default."""
        if isinstance(data, dict) and data.get("observe_only") is True:
            services = data.get("services")
            if isinstance(services, dict):
                data = {
                    **data,
                    "services": {
                        n: ({"observe_only": True, **s} if isinstance(s, dict) else s)
                        for n, s in services.items()
                    },
                }
        return data

    def secret_env_names(self) -> set[str]:
        """The environment variables that hold secrets (kept from child commands)."""
        names = {TOKEN_ENV}
        for svc in self.services.values():
            tsig = svc.traffic.rfc2136.tsig if svc.traffic and svc.traffic.rfc2136 else None
            if tsig is not None and tsig.secret_env:
                names.add(tsig.secret_env)
        for sink in self.notify:
            env = getattr(sink.spec, "url_env", None) or getattr(sink.spec, "routing_key_env", None)
            if env:
                names.add(env)
        return names

    @field_validator("leader_election")
    @classmethod
    def _v_leader_election(
        cls, v: LeaderElectionConfig | None, info: ValidationInfo
    ) -> LeaderElectionConfig | None:
        """Several replicas need both a lease and a shared state; one without the other is wrong."""
        state = info.data.get("state")
        kube = state.kubernetes if isinstance(state, StateConfig) else None
        if v is not None and kube is None:
            raise ValueError(
                "leader_election needs state: {kubernetes: {cluster, namespace, name}}: replicas "
                "cannot share a local state file, and a new leader must find the journal of a "
                "half-done failover where the old one left it"
            )
        if kube is not None and v is None:
            raise ValueError(
                "state.kubernetes needs leader_election: without a lease, two replicas would "
                "write the state (and move traffic) at the same time"
            )
        return v

    @field_validator("notify")
    @classmethod
    def _v_notify(cls, v: list[SinkSpec]) -> list[SinkSpec]:
        labels = sink_labels(v)
        if len(set(labels)) != len(labels):
            raise ValueError(f"sink names must differ: {labels}")
        return v

    @field_validator("services")
    @classmethod
    def _v_names(cls, v: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
        for name in v:
            if not _SERVICE_NAME.fullmatch(name):
                raise ValueError(
                    f"service name {name!r}: use letters, digits, '.', '_' and '-' (it names "
                    "files, metrics labels and API paths), at most 63 characters"
                )
        return v

    @model_validator(mode="after")
    def _v_shared(self) -> Config:
        """Two services must never control one record or listener, or one snapshot folder."""
        owners: dict[str, str] = {}
        for name, svc in self.services.items():
            if svc.traffic is None:
                continue
            target = svc.traffic.target()
            if target in owners:
                raise ValueError(
                    f"services {owners[target]} and {name} both control {target}: they would "
                    "flip it against each other"
                )
            owners[target] = name
        folders: list[tuple[str, str, str]] = []
        for name, svc in self.services.items():
            for job_name, job in svc.replication.items():
                if job.s3_snapshot is None:
                    continue
                here = (job.s3_snapshot.bucket, job.s3_snapshot.prefix, f"{name}.{job_name}")
                for bucket, prefix, who in folders:
                    if bucket == here[0] and (
                        prefix.startswith(here[1]) or here[1].startswith(prefix)
                    ):
                        raise ValueError(
                            f"snapshot jobs {who} and {here[2]} share s3://{bucket}/ folders "
                            f"({prefix!r}, {here[1]!r}): one's retention would delete the other's"
                        )
                folders.append(here)
        return self

    @model_validator(mode="after")
    def _v_clusters(self) -> Config:
        refs = set().union(*(svc.cluster_refs() for svc in self.services.values()))
        if self.leader_election is not None:
            refs.add(self.leader_election.cluster)
        if self.state.kubernetes is not None:
            refs.add(self.state.kubernetes.cluster)
        missing = sorted(c for c in refs if c not in self.clusters)
        if missing:
            raise ValueError(
                f"cluster(s) {', '.join(missing)} used but not defined under clusters:"
            )
        return self
