"""The `traffic:` section: one model per traffic switch kind (exactly one per service)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from failoverd.config.common import (
    Int,
    KindUnion,
    Model,
    PositiveDuration,
    check_secret_env,
    check_secret_file,
    host_port,
    one_of,
    read_secret,
)
from failoverd.machine import Side

_BIND_KEY_SECRET = re.compile(r'secret\s+"([^"]+)"')


class TsigConfig(Model):
    name: str
    algorithm: Literal["hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1"] = (
        "hmac-sha256"
    )
    secret_file: Path | None = None
    secret_env: str | None = None
    _secret: SecretStr | None = PrivateAttr(default=None)

    _v_file = field_validator("secret_file")(check_secret_file)
    _v_env = field_validator("secret_env")(check_secret_env)

    @model_validator(mode="after")
    def _v_source(self) -> TsigConfig:
        one_of(self, ("secret_file", "secret_env"), "secret source")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._secret = read_secret(self.secret_file, self.secret_env)
        try:
            base64.b64decode(self.key_secret(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "the TSIG secret is not valid base64 (give the key's secret, or tsig-keygen's "
                "whole output)"
            ) from None

    def key_secret(self) -> str:
        """The base64 secret, from a raw secret or from a BIND key file (tsig-keygen's output)."""
        raw = self.secret.get_secret_value()
        m = _BIND_KEY_SECRET.search(raw)
        return m.group(1) if m else raw.strip()

    @property
    def secret(self) -> SecretStr:
        assert self._secret is not None
        return self._secret


class SidedRecord(Model):
    """A DNS record whose values name the serving side."""

    name: str
    type: Literal["A", "AAAA", "CNAME", "TXT"] = "A"
    ttl: Int = Field(default=30, ge=0, le=2**31 - 1)
    primary: list[str] = Field(min_length=1)
    standby: list[str] = Field(min_length=1)

    def values(self, side: Side) -> list[str]:
        """The record's values while `side` serves."""
        return self.primary if side == "primary" else self.standby

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
    timeout: PositiveDuration = 2.0
    tsig: TsigConfig | None = None

    @field_validator("server")
    @classmethod
    def _v_server(cls, v: str) -> str:
        host_port(v, 53)
        return v

    @model_validator(mode="after")
    def _v_zone(self) -> Rfc2136Traffic:
        zone, name = self.zone.rstrip(".").lower(), self.name.rstrip(".").lower()
        if name != zone and not name.endswith("." + zone):
            raise ValueError(f"name {self.name!r} is not inside zone {self.zone!r}")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port(self.server, 53)


class Route53Traffic(SidedRecord):
    hosted_zone_id: str
    region: str | None = None
    endpoint_url: str | None = None
    insync_timeout: PositiveDuration = 120.0
    insync_poll: PositiveDuration = 2.0


class Elbv2Traffic(Model):
    listener_arn: str
    primary_target_group: str
    standby_target_group: str
    region: str | None = None
    endpoint_url: str | None = None

    def target_group(self, side: Side) -> str:
        """The target group that serves while `side` is active."""
        return self.primary_target_group if side == "primary" else self.standby_target_group


def _record_key(name: str, rtype: str) -> str:
    return f"{name.lower().rstrip('.')} {rtype}"


class TrafficSpec(KindUnion):
    """Exactly one traffic switch."""

    rfc2136: Rfc2136Traffic | None = None
    route53: Route53Traffic | None = None
    elbv2: Elbv2Traffic | None = None

    @model_validator(mode="after")
    def _v_kind(self) -> TrafficSpec:
        self.check_one("traffic kind")
        return self

    def target(self) -> str:
        """What this switch controls, so that two services never fight over one thing."""
        if self.rfc2136 is not None:
            r = self.rfc2136
            return f"rfc2136 {r.host_port[0]}:{r.host_port[1]} {_record_key(r.name, r.type)}"
        if self.route53 is not None:
            r53 = self.route53
            return f"route53 {r53.hosted_zone_id} {_record_key(r53.name, r53.type)}"
        assert self.elbv2 is not None
        return f"elbv2 {self.elbv2.listener_arn}"


TRAFFIC_KINDS = TrafficSpec.kinds()
