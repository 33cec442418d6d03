"""The API's request bodies, checked by pydantic with the config's own types.

A duration is written as in the config file ("2h", "30s") and parsed by the same code; a flag
is a real JSON boolean; a field the API does not know is refused (a typo such as `"foce": true`
must not run a command without the flag it meant). A bad body is a 400 that names the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError

from failoverd.config.common import Bool, Duration

MAX_REASON = 1024  # bytes of an operator's reason (it lands in logs, events and plans)
MAX_PAUSE = 30 * 86400.0  # a timed pause longer than this is a pause without --for
MAX_SOAK = 3600.0


def _reason(value: str) -> str:
    if len(value.encode()) > MAX_REASON:
        raise ValueError(f"a string of at most {MAX_REASON} bytes")
    return value


def _pause(value: float) -> float:
    if not 0 < value <= MAX_PAUSE:
        raise ValueError('a duration up to 30d, like "2h"')
    return value


def _soak(value: float) -> float:
    if not 0 <= value <= MAX_SOAK:
        raise ValueError('a duration up to 1h, like "30s"')
    return value


Reason = Annotated[str, Strict(), AfterValidator(_reason)]


class CommandBody(BaseModel):
    """POST /v1/services/NAME/{failover,failback,pause,resume,approve,reject}."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    reason: Reason = ""
    force: Bool = False
    pause_for: Annotated[Duration, AfterValidator(_pause)] | None = Field(None, alias="for")


class DrillBody(BaseModel):
    """POST /v1/services/NAME/drill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["readiness", "full"] = "readiness"
    reason: Reason = ""
    soak: Annotated[Duration, AfterValidator(_soak)] = 30.0


def problem(e: ValidationError) -> str:
    """The first error of a body, as `field: what is wrong`."""
    first: dict[str, Any] = dict(e.errors()[0])
    field = ".".join(str(x) for x in first["loc"]) or "body"
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "not a field of this command"
    return f"{field}: {message}"
