"""The `probes:` section: one model per probe kind, and the per-side lists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from failoverd.config.common import (
    Bool,
    CommandSpec,
    Int,
    KindUnion,
    Model,
    PositiveDuration,
    check_readable_file,
    host_port,
)
from failoverd.machine import Side


class ProbeBase(Model):
    name: str | None = None
    timeout: PositiveDuration = 1.0
    role: Literal["app", "cluster"] = "app"


class HttpProbe(ProbeBase):
    url: str
    expect_status: list[Annotated[Int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [200], min_length=1
    )
    body_contains: str | None = None
    verify_tls: Bool = True
    ca_file: Path | None = None

    _v_ca_file = field_validator("ca_file")(check_readable_file)

    @field_validator("url")
    @classmethod
    def _v_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return v


class TcpProbe(ProbeBase):
    host: str
    port: Int = Field(ge=1, le=65535)


class DnsProbe(ProbeBase):
    server: str
    qname: str = Field(alias="name")
    type: Literal["A", "AAAA", "CNAME", "TXT"] = "A"
    expect: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("server")
    @classmethod
    def _v_server(cls, v: str) -> str:
        host_port(v, 53)
        return v

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port(self.server, 53)


class KubernetesProbe(ProbeBase):
    role: Literal["app", "cluster"] = "cluster"
    cluster: str
    namespace: str = "default"
    deployment: str | None = None
    statefulset: str | None = None
    min_ready: Int = Field(default=1, ge=0, le=100_000)


class CommandProbe(CommandSpec, ProbeBase):
    timeout: PositiveDuration = 1.0


class WitnessProbe(ProbeBase):
    """Another failoverd's own verdict on the same side, read from its /v1/services/NAME/view."""

    role: Literal["app", "cluster"] = "cluster"  # it reports the peer's verdict, idle side too
    api: str
    service: str | None = None  # the peer's name for this service (default: the same name)
    token_file: Path | None = None  # a bearer token, when the peer sits behind a proxy

    @field_validator("api")
    @classmethod
    def _v_api(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("api must start with http:// or https://")
        return v.rstrip("/")

    _v_token = field_validator("token_file")(check_readable_file)


class ProbeSpec(KindUnion):
    """One probe: a mapping with exactly one key, the probe kind."""

    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    dns: DnsProbe | None = None
    kubernetes: KubernetesProbe | None = None
    command: CommandProbe | None = None
    witness: WitnessProbe | None = None

    @model_validator(mode="after")
    def _v_kind(self) -> ProbeSpec:
        self.check_one("probe kind")
        return self

    @property
    def spec(self) -> ProbeBase:
        probe: ProbeBase = getattr(self, self.kind)
        return probe


PROBE_KINDS = ProbeSpec.kinds()


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

    def of(self, side: Side) -> list[ProbeSpec]:
        return self.primary if side == "primary" else self.standby
