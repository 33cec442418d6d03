"""What every config section shares: the immutable base model, durations, host:port, secrets.

Secrets are read here, from files or the environment, into SecretStr values that never print;
nothing downstream reads YAML or the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    WithJsonSchema,
)

from failoverd.config.durations import PATTERN, parse_duration


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"durations are strings with a unit, like '500ms' or '2s', not {value!r}")
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["500ms", "2s", "5m"]}),
]


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]

# YAML gives real ints and bools: `failure_threshold: true` or `auto_failback: "no"` is a typo
# to report, not a value to coerce.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]


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


def host_port(value: str, default_port: int | None = None) -> tuple[str, int]:
    """Split HOST:PORT (IPv6 in brackets); ValueError naming what is wrong."""
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


def one_of(model: BaseModel, fields: tuple[str, ...], what: str) -> str:
    """The one field of `fields` that is set; ValueError when none or several are."""
    chosen = [f for f in fields if getattr(model, f) is not None]
    if len(chosen) != 1:
        found = ", ".join(chosen) or "none"
        raise ValueError(f"exactly one {what} of {', '.join(fields)} is required (found: {found})")
    return chosen[0]


class KindUnion(Model):
    """A mapping with exactly one key, the kind; every field is an optional model of one kind.

    Subclasses only list their kinds as fields: `kind` and `spec` follow from the fields, so a
    new kind is one model and one field here, and the runtime registries are keyed by the same
    name.
    """

    @classmethod
    def kinds(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

    def check_one(self, what: str) -> None:
        one_of(self, self.kinds(), what)

    @property
    def kind(self) -> str:
        return next(k for k in self.kinds() if getattr(self, k) is not None)

    @property
    def spec(self) -> Any:
        return getattr(self, self.kind)


def read_secret(path: Path | None, env: str | None) -> SecretStr | None:
    if path is not None:
        return SecretStr(path.read_text().strip())
    if env is not None:
        return SecretStr(os.environ[env])
    return None


def check_readable_file(value: Path | None) -> Path | None:
    """A file the daemon must read (a CA bundle): it exists and is readable now."""
    if value is not None:
        value = value.expanduser()
        if not value.is_file() or not os.access(value, os.R_OK):
            raise ValueError(f"file {str(value)!r} does not exist or is not readable")
    return value


def check_secret_file(value: Path | None) -> Path | None:
    if value is not None:
        value = value.expanduser()
        if not value.is_file():
            raise ValueError(f"secret file {str(value)!r} does not exist")
        if not os.access(value, os.R_OK):
            raise ValueError(f"secret file {str(value)!r} is not readable")
    return value


def check_secret_env(value: str | None) -> str | None:
    if value is not None and value not in os.environ:
        raise ValueError(f"environment variable {value} is not set")
    return value


class CommandSpec(Model):
    """A program to run (no shell): prepare/fence steps, command probes and jobs."""

    argv: list[str] = Field(min_length=1)
    timeout: PositiveDuration = 30.0
