"""The admin API (aiohttp): status, events, operator commands and /metrics.

It binds to localhost by default; every POST needs `Authorization: Bearer TOKEN`, compared in
constant time. With no token configured, POSTs are refused: there is no unauthenticated write.
The /v1 endpoints answer only requests whose Host is an IP address, `localhost` or a name in
`api.allowed_hosts`: a web page on another origin cannot read the status through a DNS name it
rebinds to 127.0.0.1. The API knows the daemon only through the small Control protocol.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, cast

from aiohttp import web
from pydantic import SecretStr, ValidationError

from failoverd.app.bodies import CommandBody, DrillBody, problem
from failoverd.kit.errors import Refused, UnknownService
from failoverd.kit.metrics import CONTENT_TYPE, Metrics
from failoverd.machine import Command, Decision

MAX_BODY = 64 * 1024  # a command's body is a reason and a flag or two: 413 beyond this
WHO: web.RequestKey[str] = web.RequestKey("who", str)  # the name of the token that authenticated
# what a POST's handler adds to its audit entry (the command's reason, a drill's kind, ...)
AUDIT: web.RequestKey[dict[str, Any]] = web.RequestKey("audit", dict)
PAUSE_FOR = 'for: a duration up to 30d, like "2h", with pause only'
UNAUTHENTICATED = "(no valid token)"  # the audit's `who` for a POST refused before a token matched


@dataclass(frozen=True)
class OperatorCommand:
    """One operator's command as the API received it: what, why, and who from where."""

    service: str
    command: Command
    reason: str = ""
    force: bool = False
    pause_for: float | None = None  # seconds: a timed pause
    who: str = ""  # the name of the token used
    client: str = ""  # the client's address


class Control(Protocol):
    """What the API needs of the daemon."""

    @property
    def ready(self) -> bool:
        """Every service has run a probe round."""

    def health(self) -> list[str]:
        """What keeps the daemon from watching its services ([] when nothing)."""

    def status(self) -> dict[str, Any]: ...
    def view(self, service: str) -> dict[str, Any] | None:
        """This daemon's own verdict per side for a service (None: no such service)."""

    def events(self, limit: int) -> list[dict[str, Any]]: ...
    def command(self, cmd: OperatorCommand) -> Decision | None:
        """The machine's decision on the command, None when there is no such service."""

    def explain(self, service: str) -> dict[str, Any] | None:
        """The inputs and reason of the service's last decision (None: no such service)."""

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        """Operator commands and automatic decisions, newest first."""

    def drill(self, service: str, kind: str, reason: str, soak: float) -> str:
        """Start a drill: its id; UnknownService or Refused (the API's 404 and 409)."""

    def drill_reports(self, drill_id: str | None = None) -> list[dict[str, Any]]:
        """Drills newest first (only `drill_id`, when given)."""

    async def notify_test(self) -> dict[str, dict[str, Any]]:
        """A test event to every notification sink; each sink's answer."""

    def record_post(
        self, who: str, action: str, service: str, result: str, persist: bool = True, **fields: Any
    ) -> None:
        """Audit one POST: who, from where, what, and the answer (refusals too); `persist`
        False: kept in memory and logged only."""


def _error(status: int, error: str, detail: Any = None) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def _status_page() -> tuple[bytes, str]:
    """The status page and its Content-Security-Policy (its one inline script, by hash)."""
    html = resources.files("failoverd.app").joinpath("web/status.html").read_text()
    script = html.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    )
    return html.encode(), csp


def make_app(
    control: Control,
    metrics: Metrics,
    tokens: Callable[[], dict[str, SecretStr]],
    allowed_hosts: Callable[[], Collection[str]] = lambda: (),
) -> web.Application:
    """The API application; `tokens` (name -> token) and `allowed_hosts` are read per request."""
    routes = _Routes(control, metrics, tokens, allowed_hosts, *_status_page())
    app = web.Application(
        middlewares=[_json_errors, routes.audited, routes.host_check, routes.auth],
        client_max_size=MAX_BODY,
    )
    app.router.add_get("/", routes.page)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/metrics", routes.metrics)
    app.router.add_get("/v1/status", routes.status)
    app.router.add_get("/v1/events", routes.events)
    app.router.add_get("/v1/services/{name}/view", routes.view)
    app.router.add_post(
        r"/v1/services/{name}/{command:failover|failback|pause|resume|approve|reject}",
        routes.command,
    )
    app.router.add_get("/v1/services/{name}/explain", routes.explain)
    app.router.add_get("/v1/audit", routes.audit)
    app.router.add_post("/v1/services/{name}/drill", routes.start_drill)
    app.router.add_get("/v1/drills", routes.drills)
    app.router.add_get("/v1/drills/{id}", routes.one_drill)
    app.router.add_post("/v1/notify/test", routes.notify_test)
    return app


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own 404/405/413 as JSON, like every other error of the API."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return _error(e.status, e.reason.lower(), f"{request.method} {request.path}")


@dataclass(frozen=True)
class _Routes:
    control: Control
    registry: Metrics
    tokens: Callable[[], dict[str, SecretStr]]
    allowed_hosts: Callable[[], Collection[str]]
    page_html: bytes
    page_csp: str

    @web.middleware
    async def host_check(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/v1/") or request.path == "/":
            host = (
                (request.host or "").rsplit(":", 1)[0]
                if "]" not in (request.host or "")
                else ((request.host or "").split("]")[0].lstrip("["))
            )
            if not _host_allowed(host, self.allowed_hosts()):
                return _error(
                    421,
                    "misdirected request",
                    f"Host {request.host!r} is not "
                    "this API: use an IP address, localhost, or a name in "
                    "api.allowed_hosts",
                )
        return await handler(request)

    @web.middleware
    async def audited(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Every POST is audited with who, from where, what and the answer, refused ones too."""
        if request.method != "POST":
            return await handler(request)
        request[AUDIT] = {}
        try:
            response = await handler(request)
        except web.HTTPException as e:  # aiohttp's own 404 / 405 / 413
            self._audit(request, e.status, f"{request.method} {request.path}")
            raise
        self._audit(request, response.status, _answer(response))
        return response

    def _audit(self, request: web.Request, status: int, detail: Any) -> None:
        fields = dict(request.get(AUDIT) or {})
        action = fields.pop("action", None) or request.match_info.get("command")
        if action is None:
            action = "notify-test" if request.path == "/v1/notify/test" else request.path
        who = request.get(WHO)
        self.control.record_post(
            who or UNAUTHENTICATED,
            action,
            request.match_info.get("name", "-"),
            "accepted" if status < 300 else "refused",
            status=status,
            client=request.remote or "",
            detail=detail,
            persist=who is not None,  # a flood of bad tokens must not push out who acted
            **fields,
        )

    @web.middleware
    async def auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "POST":
            tokens = self.tokens()
            if not tokens:
                return _error(401, "unauthorized", "no API token is configured: POST is disabled")
            given = request.headers.get("Authorization", "").encode()
            who = None
            for name, token in tokens.items():  # every one compared, in constant time each
                if hmac.compare_digest(given, f"Bearer {token.get_secret_value()}".encode()):
                    who = name
            if who is None:
                return _error(401, "unauthorized", "missing or wrong bearer token")
            request[WHO] = who
        return await handler(request)

    async def page(self, _: web.Request) -> web.Response:
        """The read-only status page: HTML with one inline script, no external assets."""
        return web.Response(
            body=self.page_html,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Content-Security-Policy": self.page_csp,
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    async def healthz(self, _: web.Request) -> web.Response:
        problems = self.control.health()
        if problems:
            return _error(503, "unhealthy", problems)
        return web.json_response({"ok": True})

    async def readyz(self, _: web.Request) -> web.Response:
        """Ready means every service has probed and nothing is unhealthy (not "leader")."""
        problems = self.control.health()
        if self.control.ready and not problems:
            return web.json_response({"ready": True})
        return _error(
            503, "not ready", problems or "config loaded, waiting for the first probe round"
        )

    async def notify_test(self, _: web.Request) -> web.Response:
        return _ok({"sinks": await self.control.notify_test()})

    async def metrics(self, _: web.Request) -> web.Response:
        # failoverd_healthy is worked out at each scrape: a daemon nothing health-checks over
        # HTTP would otherwise show 0 (unhealthy) for ever, and FailoverdUnhealthy would page
        self.control.health()
        resp = web.Response(body=self.registry.render())
        resp.headers["Content-Type"] = CONTENT_TYPE
        return resp

    async def status(self, _: web.Request) -> web.Response:
        return web.json_response(self.control.status(), dumps=_dumps)

    async def view(self, request: web.Request) -> web.Response:
        return _service_or_404(request, self.control.view(request.match_info["name"]))

    async def events(self, request: web.Request) -> web.Response:
        return _newest(request, "events", self.control.events)

    async def command(self, request: web.Request) -> web.Response:
        name, verb = request.match_info["name"], request.match_info["command"]
        raw = await _json(request, '{"reason": "..."}')
        if isinstance(raw, web.Response):
            return raw
        try:
            body = CommandBody.model_validate(raw)
        except ValidationError as e:
            detail = problem(e)
            if detail.startswith("for:"):  # what is wrong, and what is right
                detail = f"{PAUSE_FOR} ({detail.removeprefix('for: ')})"
            return _error(400, "bad request", detail)
        if body.pause_for is not None and verb != "pause":
            return _error(
                400, "bad request", 'for: a duration up to 30d, like "2h", with pause only'
            )
        request[AUDIT].update(
            reason=body.reason, force=body.force or None, pause_for=body.pause_for
        )
        cmd = OperatorCommand(
            name,
            cast(Command, verb),
            body.reason,
            body.force,
            body.pause_for,
            request.get(WHO, ""),
            request.remote or "",
        )
        decision = self.control.command(cmd)
        if decision is None:
            return _error(404, "not found", f"no service named {name!r}")
        if decision.rejected:
            return _error(409, "conflict", decision.reason)
        return web.json_response(
            {"accepted": verb, "service": name, "detail": decision.reason}, status=202
        )

    async def start_drill(self, request: web.Request) -> web.Response:
        raw = await _json(request, '{"kind": "readiness"}')
        if isinstance(raw, web.Response):
            return raw
        kind = raw.get("kind", "readiness")
        request[AUDIT]["action"] = f"drill_{kind}" if kind in ("readiness", "full") else "drill"
        try:
            body = DrillBody.model_validate(raw)
        except ValidationError as e:
            return _error(400, "bad request", problem(e))
        request[AUDIT]["reason"] = body.reason
        try:
            drill = self.control.drill(
                request.match_info["name"], body.kind, body.reason, body.soak
            )
        except UnknownService as e:
            return _error(404, "not found", str(e))
        except Refused as e:
            return _error(409, "conflict", str(e))
        request[AUDIT]["drill"] = drill
        return web.json_response({"drill": drill}, status=202)

    async def drills(self, _: web.Request) -> web.Response:
        return _ok({"drills": self.control.drill_reports()})

    async def one_drill(self, request: web.Request) -> web.Response:
        found = self.control.drill_reports(request.match_info["id"])
        if not found:
            return _error(404, "not found", f"no drill {request.match_info['id']!r}")
        return _ok(found[0])

    async def explain(self, request: web.Request) -> web.Response:
        return _service_or_404(request, self.control.explain(request.match_info["name"]))

    async def audit(self, request: web.Request) -> web.Response:
        return _newest(request, "audit", self.control.audit_log)


async def _json(request: web.Request, example: str) -> dict[str, Any] | web.Response:
    """A POST's JSON object ({} when there is none), or the 400 that says what is wrong; its
    fields are checked by the command's model (bodies.py)."""
    body: Any = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "bad request", f"the body must be JSON, e.g. {example}")
    if not isinstance(body, dict):
        return _error(400, "bad request", "the body must be a JSON object")
    return body


def _answer(response: web.StreamResponse) -> Any:
    """What a JSON answer said, for the audit: its detail (an error's, or a command's)."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes) or response.content_type != "application/json":
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    return answer.get("detail") or answer.get("error") or answer.get("drill")


def _limit(request: web.Request) -> int | None:
    """`?limit=N`, clamped to 1..1000 (100 when absent); None when it is not a number."""
    try:
        return max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError:
        return None


def _newest(
    request: web.Request, key: str, read: Callable[[int], list[dict[str, Any]]]
) -> web.Response:
    """A log's newest ?limit= entries under `key`, or the 400 for a limit that is not a number."""
    limit = _limit(request)
    if limit is None:
        return _error(400, "bad request", "limit must be a whole number")
    return _ok({key: read(limit)})


def _service_or_404(request: web.Request, found: Any) -> web.Response:
    if found is None:
        return _error(404, "not found", f"no service named {request.match_info['name']!r}")
    return _ok(found)


def _ok(body: Any) -> web.Response:
    return web.json_response(body, dumps=_dumps)


def _host_allowed(host: str, allowed: Collection[str]) -> bool:
    if host.lower() in ("localhost", *(h.lower() for h in allowed)):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


class ApiServer:
    """Runs the app on host:port; start() returns once the socket listens."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self.host, self.port = host, port

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        await self.runner.cleanup()
