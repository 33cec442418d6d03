"""The admin API on its own: make_app with a fake control, no daemon, no BIND."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from failoverd.app.api import MAX_BODY, ApiServer, OperatorCommand, make_app
from failoverd.kit.errors import UnknownService
from failoverd.kit.metrics import Metrics
from failoverd.machine import Decision, ServiceState, on_command
from tests.lab import free_port

TOKEN = "s3cret-token"


class FakeControl:
    """One service, `web`, whose commands go through the real machine."""

    def __init__(self) -> None:
        self.state = ServiceState()
        self.calls: list[tuple[str, str, str]] = []
        self.ready = True
        self.problems: list[str] = []
        self.commands: list[OperatorCommand] = []
        self.audited: list[dict[str, Any]] = []
        self.health_checks = 0

    def explain(self, service: str) -> dict[str, Any] | None:
        return {"service": service, "decision": None} if service == "web" else None

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        return [{"who": a["who"], "action": a["action"]} for a in self.audited][::-1][:limit]

    def record_post(
        self, who: str, action: str, service: str, result: str, persist: bool = True, **fields: Any
    ) -> None:
        self.audited.append(
            {
                "who": who,
                "action": action,
                "service": service,
                "result": result,
                "persist": persist,
                **fields,
            }
        )

    def drill(self, service: str, kind: str, reason: str, soak: float) -> str:
        if service != "web":
            raise UnknownService(f"no service named {service!r}")
        return "d1"

    def health(self) -> list[str]:
        self.health_checks += 1
        return self.problems

    async def notify_test(self) -> dict[str, dict[str, Any]]:
        self.calls.append(("-", "notify-test", ""))
        return {"ops": {"ok": True, "answer": "202"}}

    def status(self) -> dict[str, Any]:
        return {"leader": True, "services": {"web": {"state": self.state.state.value}}}

    def events(self, limit: int) -> list[dict[str, Any]]:
        return [{"n": i} for i in range(limit)]

    def command(self, cmd: OperatorCommand) -> Decision | None:
        self.calls.append((cmd.service, cmd.command, cmd.reason))
        self.commands.append(cmd)
        if cmd.service != "web":
            return None
        until = cmd.pause_for and 1000.0 + cmd.pause_for
        d = on_command(self.state, cmd.command, 1000.0, cmd.reason, force=cmd.force, until=until)
        if not d.rejected:
            self.state = d.state
        return d


@pytest.fixture
async def api() -> AsyncIterator[tuple[str, FakeControl, aiohttp.ClientSession]]:
    control = FakeControl()
    port = free_port()
    app = make_app(
        control,
        Metrics(),
        lambda: {"alice": SecretStr(TOKEN), "ci": SecretStr("ci-token")},
        lambda: ["failoverd.example"],
    )
    server = ApiServer(app, "127.0.0.1", port)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield f"http://127.0.0.1:{port}", control, http
    finally:
        await server.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_a_post_without_the_token_is_401_and_reaches_no_service(api):
    url, control, http = api
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        async with http.post(f"{url}/v1/services/web/pause", headers=headers) as r:
            assert r.status == 401
            assert (await r.json())["error"] == "unauthorized"
    assert control.calls == []


async def test_an_accepted_command_is_202_with_the_machines_reason(api):
    url, control, http = api
    async with http.post(
        f"{url}/v1/services/web/pause", headers=AUTH, json={"reason": "maintenance"}
    ) as r:
        assert r.status == 202
        body = await r.json()
    assert body["accepted"] == "pause" and "maintenance" in body["detail"]
    assert control.calls == [("web", "pause", "maintenance")]


async def test_an_unknown_service_is_404(api):
    url, _, http = api
    async with http.post(f"{url}/v1/services/nope/failover", headers=AUTH) as r:
        assert r.status == 404
        assert "nope" in (await r.json())["detail"]


async def test_a_command_the_machine_rejects_is_409_with_its_reason(api):
    url, _, http = api
    # traffic is on the primary: a failback has nowhere to go
    async with http.post(f"{url}/v1/services/web/failback", headers=AUTH) as r:
        assert r.status == 409
        assert "traffic is on the primary" in (await r.json())["detail"]


async def test_a_body_that_is_not_json_is_400(api):
    url, control, http = api
    async with http.post(f"{url}/v1/services/web/pause", headers=AUTH, data=b"{nope") as r:
        assert r.status == 400
    assert control.calls == []


async def test_an_oversized_body_is_413_as_json(api):
    url, control, http = api
    body = b'{"reason": "' + b"x" * MAX_BODY + b'"}'
    async with http.post(f"{url}/v1/services/web/pause", headers=AUTH, data=body) as r:
        assert r.status == 413
        assert r.content_type == "application/json"
    assert control.calls == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/v1/services/web/pause", 405),
        ("DELETE", "/v1/status", 405),
    ],
)
async def test_unknown_paths_and_methods_answer_json_errors(api, method, path, status):
    url, _, http = api
    async with http.request(method, f"{url}{path}", headers=AUTH) as r:
        assert r.status == status
        assert r.content_type == "application/json" and "error" in await r.json()


async def test_readyz_follows_the_control_and_healthz_does_not(api):
    url, control, http = api
    control.ready = False
    async with http.get(f"{url}/readyz") as r:
        assert r.status == 503
    async with http.get(f"{url}/healthz") as r:
        assert r.status == 200
    control.ready, control.problems = True, ["web: cannot save its state: ENOSPC"]
    async with http.get(f"{url}/readyz") as r:  # ready means probing *and* healthy
        assert r.status == 503 and (await r.json())["detail"] == control.problems


async def test_events_and_audit_limits_are_bounded_and_must_be_numbers(api):
    url, _, http = api
    async with http.get(f"{url}/v1/events?limit=5000") as r:
        assert len((await r.json())["events"]) == 1000
    async with http.get(f"{url}/v1/events?limit=x") as r:
        assert r.status == 400
    async with http.get(f"{url}/v1/audit?limit=x") as r:
        assert r.status == 400 and "limit" in (await r.json())["detail"]
    async with http.get(f"{url}/v1/audit?limit=3") as r:
        assert r.status == 200 and (await r.json())["audit"] == []


async def test_healthz_is_503_with_every_problem_the_control_reports(api):
    url, control, http = api
    control.problems = ["web: no round completed for 7.0s (over 3 intervals)"]
    async with http.get(f"{url}/healthz") as r:
        assert r.status == 503
        assert (await r.json())["detail"] == control.problems


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("attacker.example", 421),  # a rebinding name pointing at 127.0.0.1
        ("attacker.example:9180", 421),
        ("127.0.0.1:9180", 200),
        ("localhost", 200),
        ("[::1]:9180", 200),
        ("failoverd.example", 200),  # in api.allowed_hosts
    ],
)
async def test_status_answers_only_hosts_that_name_this_api(api, host, status):
    url, _, http = api
    async with http.get(f"{url}/v1/status", headers={"Host": host}) as r:
        assert r.status == status
    async with http.get(f"{url}/metrics", headers={"Host": host}) as r:
        assert r.status == 200, "scrapes are not status reads"


async def test_a_reason_over_1_kib_is_refused_and_names_the_field(api):
    url, control, http = api
    async with http.post(
        f"{url}/v1/services/web/pause", headers=AUTH, json={"reason": "x" * 1025}
    ) as r:
        assert r.status == 400 and "reason" in (await r.json())["detail"]
    assert control.calls == []


async def test_force_must_be_a_boolean_and_is_passed_to_the_machine(api):
    url, _, http = api
    async with http.post(
        f"{url}/v1/services/web/failover", headers=AUTH, json={"force": "yes"}
    ) as r:
        assert r.status == 400 and "force" in (await r.json())["detail"]
    async with http.post(f"{url}/v1/services/web/failover", headers=AUTH, json={}) as r:
        assert r.status == 409 and "not ready" in (await r.json())["detail"]
    async with http.post(
        f"{url}/v1/services/web/failover", headers=AUTH, json={"force": True}
    ) as r:
        assert r.status == 202 and "FORCED" in (await r.json())["detail"]


async def test_notify_test_needs_the_token_and_returns_each_sinks_answer(api):
    url, control, http = api
    async with http.post(f"{url}/v1/notify/test") as r:
        assert r.status == 401
    assert control.calls == []
    async with http.post(f"{url}/v1/notify/test", headers=AUTH) as r:
        assert r.status == 200 and (await r.json()) == {
            "sinks": {"ops": {"ok": True, "answer": "202"}}
        }


async def test_the_audit_names_the_token_that_acted_and_the_client(api):
    url, control, http = api
    async with http.post(
        f"{url}/v1/services/web/pause",
        headers={"Authorization": "Bearer ci-token"},
        json={"reason": "deploy", "for": "2h"},
    ) as r:
        assert r.status == 202 and "until" in (await r.json())["detail"]
    (cmd,) = control.commands
    assert (cmd.who, cmd.client, cmd.pause_for) == ("ci", "127.0.0.1", 7200.0)
    async with http.get(f"{url}/v1/audit") as r:
        assert (await r.json())["audit"] == [{"who": "ci", "action": "pause"}]


@pytest.mark.parametrize(
    "body",
    [
        {"for": "soon"},
        {"for": 7200},
        {"for": "0s"},
        {"for": "9" * 400 + "s"},  # infinity once parsed
        {"for": "1" + "0" * 306 + "ms"},  # finite, but no clock reaches it
        {"for": "30d1s"},
    ],
)
async def test_a_pause_for_must_be_a_duration(api, body):
    url, control, http = api
    async with http.post(f"{url}/v1/services/web/pause", headers=AUTH, json=body) as r:
        detail = (await r.json())["detail"]
        assert r.status == 400 and "for:" in detail and "up to 30d" in detail
    assert control.calls == []


async def test_a_pause_of_thirty_days_is_the_longest_accepted(api):
    url, control, http = api
    async with http.post(f"{url}/v1/services/web/pause", headers=AUTH, json={"for": "30d"}) as r:
        assert r.status == 202
    assert control.commands[0].pause_for == 30 * 86400.0


async def test_approve_without_a_pending_failover_is_409_and_explain_404s_unknown(api):
    url, _, http = api
    async with http.post(f"{url}/v1/services/web/approve", headers=AUTH) as r:
        assert r.status == 409 and "no failover is pending" in (await r.json())["detail"]
    async with http.get(f"{url}/v1/services/nope/explain") as r:
        assert r.status == 404


@pytest.mark.parametrize(
    ("path", "headers", "body", "expected"),
    [
        (
            "/v1/services/web/failback",
            AUTH,
            {"reason": "oops"},
            {
                "who": "alice",
                "action": "failback",
                "service": "web",
                "result": "refused",
                "status": 409,
                "reason": "oops",
            },
        ),
        (
            "/v1/services/nope/pause",
            AUTH,
            {},
            {
                "who": "alice",
                "action": "pause",
                "service": "nope",
                "result": "refused",
                "status": 404,
            },
        ),
        (
            "/v1/services/web/failover",
            {"Authorization": "Bearer wrong"},
            {},
            {
                "who": "(no valid token)",
                "action": "failover",
                "service": "web",
                "result": "refused",
                "status": 401,
            },
        ),
        (
            "/v1/services/web/drill",
            {"Authorization": "Bearer ci-token"},
            {"kind": "full"},
            {
                "who": "ci",
                "action": "drill_full",
                "service": "web",
                "result": "accepted",
                "status": 202,
                "drill": "d1",
            },
        ),
        (
            "/v1/services/nope/drill",
            AUTH,
            {"kind": "readiness"},
            {
                "who": "alice",
                "action": "drill_readiness",
                "service": "nope",
                "result": "refused",
                "status": 404,
            },
        ),
        (
            "/v1/notify/test",
            AUTH,
            None,
            {
                "who": "alice",
                "action": "notify-test",
                "service": "-",
                "result": "accepted",
                "status": 200,
            },
        ),
        (
            "/v1/services/web/explode",
            AUTH,
            {},
            {
                "who": "alice",
                "action": "/v1/services/web/explode",
                "service": "-",
                "result": "refused",
                "status": 404,
            },
        ),
    ],
)
async def test_every_post_is_audited_with_who_from_where_what_and_the_answer(
    api, path, headers, body, expected
):
    url, control, http = api
    async with http.post(f"{url}{path}", headers=headers, json=body) as r:
        assert r.status == expected["status"]
        answer = await r.json()
    (entry,) = control.audited
    assert entry["client"] == "127.0.0.1"
    assert {k: entry.get(k) for k in expected} == expected, entry
    assert entry["detail"] == (answer.get("detail") or answer.get("drill")), entry


async def test_each_scrape_works_out_the_health_it_exports(api):
    """failoverd_healthy must not wait for someone to call /healthz (FailoverdUnhealthy reads it)."""
    url, control, http = api
    async with http.get(f"{url}/metrics") as r:
        assert r.status == 200
    assert control.health_checks == 1


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/services/web/failover", {"foce": True}, "foce: not a field of this command"),
        ("/v1/services/web/failover", {"force": "yes"}, "force:"),
        ("/v1/services/web/pause", {"reason": 42}, "reason:"),
        ("/v1/services/web/drill", {"kind": "chaos"}, "kind:"),
        ("/v1/services/web/drill", {"soak": "2h"}, 'soak: a duration up to 1h, like "30s"'),
    ],
)
async def test_a_body_the_api_does_not_understand_is_a_400_that_names_the_field(
    api, path, body, named
):
    url, control, http = api
    async with http.post(f"{url}{path}", headers=AUTH, json=body) as r:
        assert r.status == 400 and named in (await r.json())["detail"]
    assert control.calls == [] and control.commands == []


async def test_requests_without_a_valid_token_are_audited_but_never_saved(api):
    """A loop of bad tokens (or a rebinding page's wrong Host) must not push out who acted."""
    url, control, http = api
    async with http.post(f"{url}/v1/services/web/failover", headers={"Authorization": "x"}) as r:
        assert r.status == 401
    async with http.post(
        f"{url}/v1/services/web/failover", headers={**AUTH, "Host": "evil.example"}
    ) as r:
        assert r.status == 421
    async with http.post(f"{url}/v1/services/web/pause", headers=AUTH) as r:
        assert r.status == 202
    assert [(a["status"], a["persist"]) for a in control.audited] == [
        (401, False),
        (421, False),
        (202, True),
    ]
