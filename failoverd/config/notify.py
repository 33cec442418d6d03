"""The `notify:` section: where events go (webhook, Slack, PagerDuty) and which ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import PrivateAttr, SecretStr, field_validator, model_validator

from failoverd.config.common import (
    KindUnion,
    Model,
    PositiveDuration,
    check_secret_env,
    check_secret_file,
    one_of,
    read_secret,
)

EventName = Literal[
    "failover_started",
    "failover_finished",
    "failover_failed",
    "failback_started",
    "failback_finished",
    "failback_failed",
    "blocked",
    "blocked_cleared",
    "standby_down",
    "forced_move",
    "rpo_objective_exceeded",
    "rpo_objective_met",
    "test",
    "failover_proposed",
    "proposal_approved",
    "proposal_rejected",
    "proposal_expired",
    "proposal_withdrawn",
    "drill_finished",
    "leader_acquired",
    "leader_lost",
]
EVENTS: tuple[str, ...] = get_args(EventName)


def _http_url(v: str) -> str:
    if not v.startswith(("http://", "https://")):
        raise ValueError("url must start with http:// or https://")
    return v


class SinkBase(Model):
    name: str | None = None  # the `sink` label of the metrics (default: the kind)
    timeout: PositiveDuration = 5.0
    events: list[EventName] | None = None  # only these (default: every event)


class WebhookSink(SinkBase):
    """The generic JSON body to any URL; extra headers (e.g. a bearer token) from a file."""

    url: str
    headers_file: Path | None = None
    _headers: dict[str, str] = PrivateAttr(default_factory=dict)

    _v_url = field_validator("url")(_http_url)
    _v_headers = field_validator("headers_file")(check_secret_file)

    def model_post_init(self, context: Any, /) -> None:
        if self.headers_file is None:
            return
        for n, line in enumerate(self.headers_file.read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, sep, value = line.partition(":")
            if not sep or not key.strip():
                raise ValueError(f"headers_file line {n}: expected 'Name: value'")
            self._headers[key.strip()] = value.strip()

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._headers)


class _SecretUrl(SinkBase):
    url_file: Path | None = None
    url_env: str | None = None
    _url: SecretStr | None = PrivateAttr(default=None)

    _v_file = field_validator("url_file")(check_secret_file)
    _v_env = field_validator("url_env")(check_secret_env)

    @model_validator(mode="after")
    def _v_source(self) -> _SecretUrl:
        one_of(self, ("url_file", "url_env"), "url source")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._url = read_secret(self.url_file, self.url_env)
        _http_url(self.secret_url.get_secret_value())

    @property
    def secret_url(self) -> SecretStr:
        assert self._url is not None
        return self._url


class SlackSink(_SecretUrl):
    """A Slack incoming webhook; its URL is a secret (file or environment)."""


class PagerDutySink(SinkBase):
    """PagerDuty Events API v2: trigger and resolve with stable dedup keys."""

    routing_key_file: Path | None = None
    routing_key_env: str | None = None
    url: str = "https://events.pagerduty.com/v2/enqueue"
    _key: SecretStr | None = PrivateAttr(default=None)

    _v_url = field_validator("url")(_http_url)
    _v_file = field_validator("routing_key_file")(check_secret_file)
    _v_env = field_validator("routing_key_env")(check_secret_env)

    @model_validator(mode="after")
    def _v_source(self) -> PagerDutySink:
        one_of(self, ("routing_key_file", "routing_key_env"), "routing key source")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._key = read_secret(self.routing_key_file, self.routing_key_env)

    @property
    def routing_key(self) -> SecretStr:
        assert self._key is not None
        return self._key


class SinkSpec(KindUnion):
    """One sink: a mapping with exactly one key, the sink kind."""

    webhook: WebhookSink | None = None
    slack: SlackSink | None = None
    pagerduty: PagerDutySink | None = None

    @model_validator(mode="after")
    def _v_kind(self) -> SinkSpec:
        self.check_one("sink kind")
        return self

    @property
    def spec(self) -> SinkBase:
        sink: SinkBase = getattr(self, self.kind)
        return sink


def sink_labels(specs: list[SinkSpec]) -> list[str]:
    """The `sink` label of each sink: its name, else its kind, suffixed where a kind repeats."""
    kinds = [s.kind for s in specs]
    return [
        s.spec.name or (s.kind if kinds.count(s.kind) == 1 else f"{s.kind}-{i}")
        for i, s in enumerate(specs)
    ]
