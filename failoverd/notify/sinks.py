"""The sinks: the generic webhook, Slack's incoming webhook, PagerDuty's Events API v2.

A sink turns an event into its receiver's body and POSTs it: 2xx is accepted, 429 and 5xx and
network errors are worth retrying (`Retry`, with the receiver's Retry-After), any other 4xx is
refused for good (`Refused`). URLs and keys come from files or the environment (config), and
never reach a log line.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import aiohttp

from failoverd import config

SEVERITY = {
    "failover_started": "warning",
    "failover_finished": "warning",
    "failover_failed": "critical",
    "failback_started": "info",
    "failback_finished": "info",
    "failback_failed": "critical",
    "blocked": "critical",
    "blocked_cleared": "info",
    "standby_down": "critical",
    "forced_move": "warning",
    "rpo_objective_exceeded": "warning",
    "rpo_objective_met": "info",
    "test": "info",
    "failover_proposed": "critical",
    "proposal_approved": "info",
    "proposal_rejected": "info",
    "proposal_expired": "warning",
    "proposal_withdrawn": "info",
    "drill_finished": "info",
    "leader_acquired": "info",
    "leader_lost": "warning",
}


Emit = Callable[[str, str, str, dict[str, Any]], Any]
"""emit(event, service, message, details): queue an event for the operators (never blocks)."""


def no_emit(event: str, service: str, message: str, details: dict[str, Any]) -> None:
    """For parts run without a notifier (tests, tools)."""


@dataclass(frozen=True)
class Notice:
    """One event, as every sink gets it (the generic webhook body, with `time` as RFC 3339)."""

    id: str
    event: str
    service: str
    time: float
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {**asdict(self), "time": rfc3339(self.time)}


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class Retry(Exception):
    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


class Refused(Exception):
    pass


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    timeout: float,
) -> str:
    """POST JSON; the answer's status line on 2xx, Retry (429, 5xx, network) or Refused (4xx)."""
    try:
        async with session.post(
            url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as r:
            text = (await r.content.read(512)).decode(errors="replace").strip()
            answer = f"{r.status} {text[:200]}".strip()
            if 200 <= r.status < 300:
                return answer
            if r.status == 429 or r.status >= 500:
                raise Retry(answer, _retry_after(r.headers.get("Retry-After")))
            raise Refused(answer)
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise Retry(f"{type(e).__name__}: {e}".rstrip(": ")) from None


def _retry_after(value: str | None) -> float | None:
    try:
        return min(3600.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- sinks


class Sink(Protocol):
    name: str
    timeout: float

    def accepts(self, event: str) -> bool: ...
    async def send(self, session: aiohttp.ClientSession, notice: Notice) -> str: ...


@dataclass
class _Filter:
    name: str
    timeout: float
    events: list[str] | None

    def accepts(self, event: str) -> bool:
        return event == "test" or self.events is None or event in self.events


@dataclass
class Webhook(_Filter):
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    async def send(self, session: aiohttp.ClientSession, notice: Notice) -> str:
        return await post(session, self.url, notice.body(), self.headers, self.timeout)


def _facts(n: Notice) -> list[tuple[str, str]]:
    d = n.details
    facts = [("Service", n.service)]
    if "from" in d:
        facts.append(("Move", f"{d['from']} -> {d['to']}"))
    for key, title, unit in (
        ("trigger", "Trigger", ""),
        ("rto_seconds", "RTO", "s"),
        ("rpo_seconds", "RPO", "s"),
        ("failed_step", "Failed step", ""),
        ("error", "Error", ""),
        ("blocked", "Blocked", ""),
        ("clears_when", "Clears when", ""),
    ):
        if d.get(key) is not None:
            value = d[key]
            facts.append((title, f"{value:.1f}{unit}" if isinstance(value, float) else str(value)))
    return facts


def summary(n: Notice) -> str:
    """One readable line: what happened to which service, and the key facts."""
    facts = dict(_facts(n))
    bits = [f"{n.service}: {n.message}"]
    for title in ("Move", "Trigger", "RTO", "RPO", "Failed step"):
        if title in facts:
            bits.append(f"{title.lower()} {facts[title]}")
    return ", ".join(bits)


@dataclass
class Slack(_Filter):
    url: str = ""

    async def send(self, session: aiohttp.ClientSession, notice: Notice) -> str:
        icon = {"critical": ":rotating_light:", "warning": ":warning:"}.get(notice.severity, "")
        fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in _facts(notice)][:10]
        body = {
            "text": f"{icon} {summary(notice)}".strip(),
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"{icon} *{summary(notice)}*".strip()},
                },
                {"type": "section", "fields": fields},
            ],
        }
        return await post(session, self.url, body, {}, self.timeout)


_RESOLVES = {
    "failover_finished": "failover_started",
    "failback_finished": "failback_started",
    "blocked_cleared": "blocked",
    "rpo_objective_met": "rpo_objective_exceeded",
    "proposal_approved": "failover_proposed",
    "proposal_rejected": "failover_proposed",
    "proposal_expired": "failover_proposed",
    "proposal_withdrawn": "failover_proposed",
}
"""The events PagerDuty resolves on, each with the event whose incident it closes."""


def dedup_key(n: Notice) -> str:
    """Stable per incident: a plan, a blocked reason, the RPO; so a resolve closes its trigger."""
    d, svc = n.details, n.service
    if n.event.startswith(("failover_", "failback_")) and d.get("plan"):
        key = f"failoverd/{svc}/{n.event.split('_')[0]}/{d['plan']}"
    elif n.event in ("blocked", "blocked_cleared"):
        key = f"failoverd/{svc}/blocked/{d.get('blocked') or d.get('was')}"
    elif n.event == "failover_proposed" or n.event.startswith("proposal_"):
        key = f"failoverd/{svc}/proposal"
    elif n.event.startswith("rpo_objective_"):
        key = f"failoverd/{svc}/rpo"
    elif n.event == "standby_down":
        key = f"failoverd/{svc}/standby_down"
    else:
        key = f"failoverd/{svc}/{n.event}/{n.id}"
    return key[:255]


@dataclass
class PagerDuty(_Filter):
    url: str = ""
    routing_key: str = ""

    def accepts(self, event: str) -> bool:
        """An `events:` filter that lets an incident open also lets it resolve."""
        opened_by = _RESOLVES.get(event)
        return super().accepts(event) or (opened_by is not None and super().accepts(opened_by))

    def body(self, n: Notice) -> dict[str, Any]:
        action = "resolve" if n.event in _RESOLVES else "trigger"
        body: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": action,
            "dedup_key": dedup_key(n),
        }
        if action == "trigger":
            body["payload"] = {
                "summary": summary(n)[:1024],
                "source": f"failoverd@{socket.gethostname()}",
                "severity": n.severity,
                "timestamp": rfc3339(n.time),
                "component": n.service,
                "group": "failoverd",
                "class": n.event,
                "custom_details": {"id": n.id, "message": n.message, **n.details},
            }
        return body

    async def send(self, session: aiohttp.ClientSession, notice: Notice) -> str:
        return await post(session, self.url, self.body(notice), {}, self.timeout)


def build_sinks(specs: list[config.SinkSpec]) -> list[Sink]:
    sinks: list[Sink] = []
    for label, s in zip(config.sink_labels(specs), specs, strict=True):
        events: list[str] | None = list(s.spec.events) if s.spec.events is not None else None
        if s.webhook is not None:
            sinks.append(
                Webhook(label, s.webhook.timeout, events, s.webhook.url, s.webhook.headers)
            )
        elif s.slack is not None:
            sinks.append(
                Slack(label, s.slack.timeout, events, s.slack.secret_url.get_secret_value())
            )
        elif s.pagerduty is not None:
            pd = s.pagerduty
            sinks.append(
                PagerDuty(label, pd.timeout, events, pd.url, pd.routing_key.get_secret_value())
            )
    return sinks
