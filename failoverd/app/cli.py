"""`failoverd ...`: the daemon, config checks, and an operator's client for the admin API.

Exit codes: 0 ok, 1 the operation ran and failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from failoverd import config
from failoverd.app.answers import ServiceAnswer, StatusAnswer

DEFAULT_API = "http://127.0.0.1:9180"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="failoverd", description="Disaster-recovery failover daemon.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("-c", "--config", required=True, type=Path)
    val = sub.add_parser("validate", help="check a config file; exit 2 with every error")
    val.add_argument("-c", "--config", required=True, type=Path)
    sub.add_parser("schema", help="print the JSON Schema of the config file")
    demo = sub.add_parser(
        "demo", help="a self-contained failover on loopback (needs failoverd[demo])"
    )
    demo.add_argument("--keep-running", action="store_true", help="stay up after the failover")

    status = sub.add_parser("status", help="show every service's state")
    status.add_argument("--api", default=os.environ.get("FAILOVERD_API", DEFAULT_API))
    status.add_argument("--json", action="store_true", help="print the raw /v1/status JSON")

    for verb, text in (
        ("failover", "move traffic to the standby now"),
        ("failback", "move traffic back to the primary now"),
        ("pause", "stop automatic moves (probes and metrics go on)"),
        ("resume", "resume automation (also clears a blocked service)"),
        ("approve", "run the failover that propose mode is holding"),
        ("reject", "drop the proposed failover (stay on the primary until it recovers)"),
    ):
        cmd = sub.add_parser(verb, help=text)
        cmd.add_argument("service")
        cmd.add_argument("--reason", default="", help="recorded in the event log")
        if verb in ("failover", "failback", "approve"):
            cmd.add_argument(
                "--force",
                action="store_true",
                help="move even towards a side that is not ready (logged, noted)",
            )
        if verb == "pause":
            cmd.add_argument(
                "--for",
                dest="pause_for",
                metavar="DURATION",
                help="a timed pause, e.g. 2h: it resumes by itself",
            )
        cmd.add_argument("--api", default=os.environ.get("FAILOVERD_API", DEFAULT_API))
        cmd.add_argument(
            "--token-file", type=Path, help="bearer token file (else $FAILOVERD_API_TOKEN)"
        )
    ex = sub.add_parser("explain", help="the inputs and reason of a service's last decision")
    ex.add_argument("service")
    ex.add_argument("--api", default=os.environ.get("FAILOVERD_API", DEFAULT_API))
    au = sub.add_parser("audit", help="who did what, when, why (newest first)")
    au.add_argument("--limit", type=int, default=50)
    au.add_argument("--api", default=os.environ.get("FAILOVERD_API", DEFAULT_API))
    dr = sub.add_parser("drill", help="run a DR drill through the daemon and write its report")
    dr.add_argument("service")
    dr.add_argument("--kind", choices=("readiness", "full"), default="readiness")
    dr.add_argument("--soak", default="30s", help="full: how long to stay on the standby")
    dr.add_argument("--reason", default="scheduled drill")
    dr.add_argument("--report-dir", type=Path, default=Path("."))
    dr.add_argument("--api", default=os.environ.get("FAILOVERD_API", DEFAULT_API))
    dr.add_argument("--token-file", type=Path, help="bearer token file (else $FAILOVERD_API_TOKEN)")
    nt = sub.add_parser("notify-test", help="send a test event to every notification sink")
    nt.add_argument("--api", default=os.environ.get("FAILOVERD_API", DEFAULT_API))
    nt.add_argument("--token-file", type=Path, help="bearer token file (else $FAILOVERD_API_TOKEN)")
    return p


def _notify_test(args: argparse.Namespace) -> int:
    code, data = _request(
        args.api.rstrip("/") + "/v1/notify/test", "POST", {}, _token(args.token_file)
    )
    if code != 200:
        print(
            f"failoverd: notify-test refused ({code}): {data.get('detail') or data.get('error')}",
            file=sys.stderr,
        )
        return 2 if code in (400, 401, 404) else 1
    sinks = data.get("sinks", {})
    if not sinks:
        print("no notification sinks are configured (notify: in the config)")
        return 1
    for name, answer in sinks.items():
        print(f"{name:20} {'ok  ' if answer['ok'] else 'FAIL'} {answer['answer']}")
    return 0 if all(a["ok"] for a in sinks.values()) else 1


def _validate(path: Path) -> config.Config | None:
    from failoverd.app import preflight

    try:
        cfg = config.load(path)
        preflight.check(cfg, path)
        return cfg
    except config.ConfigError as e:
        for line in e.errors:
            print(line, file=sys.stderr)
        return None


def _validate_cmd(args: argparse.Namespace) -> int:
    """Check the file; with the state in the cluster, name the ConfigMaps it keeps there."""
    cfg = _validate(args.config)
    if cfg is None:
        return 2
    if cfg.state.kubernetes is not None:
        from failoverd.store.kubernetes import configmap_name

        prefix = cfg.state.kubernetes.name
        names = [configmap_name(prefix, s) for s in cfg.services]
        names += [f"{prefix}-outbox", f"{prefix}-audit"]
        where = cfg.state.kubernetes.namespace
        print(f"state ConfigMaps (in namespace {where}, failoverd's own): [{', '.join(names)}]")
    return 0


def _request(
    url: str, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (the operator's URL)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, {"error": e.reason}


def _token(path: Path | None) -> str | None:
    if path is not None:
        return path.read_text().strip()
    return os.environ.get(config.TOKEN_ENV)


def _seconds(v: float | None) -> str:
    """A duration as people read it: 850ms, 3.5s, 42s, 7m, 2h."""
    if v is None:
        return "-"
    if v < 1:
        return f"{v * 1000:.0f}ms"
    if v < 10:
        return f"{v:.1f}s"
    if v < 120:
        return f"{v:.0f}s"
    return f"{v / 60:.0f}m" if v < 7200 else f"{v / 3600:.0f}h"


def _sides(svc: ServiceAnswer) -> list[str]:
    out = []
    for side in ("primary", "standby"):
        results = svc.probes.get(side, [])
        ok = sum(r.ok for r in results)
        verdict = "ok" if results and ok == len(results) else ("-" if not results else "FAIL")
        ready = " ready" if svc.ready.get(side) else ""
        out.append(f"{ok}/{len(results)} {verdict}{ready}" if results else "-")
    return out


def _last(svc: ServiceAnswer, now: float) -> str:
    lf = svc.plan or svc.last_failover
    if lf is None:
        return "-"
    ago = f", {_seconds(now - lf.finished)} ago" if lf.finished else ", running"
    return f"{lf.kind} {lf.result} ({lf.trigger}) RTO {_seconds(lf.rto_seconds)}" + ago


def _print_status(data: dict[str, Any], now: float | None = None) -> None:
    """The status at a glance: one line per service, the words an operator uses."""
    now = time.time() if now is None else now
    status = StatusAnswer.model_validate(data)  # the contract: a renamed key fails here
    print("leader" if status.leader else "follower (another replica acts)")
    head = (
        "SERVICE",
        "STATE",
        "ACTIVE",
        "MODE",
        "PRIMARY",
        "STANDBY",
        "ROUND",
        "RPO/OBJ",
        "LAST FAILOVER",
    )
    rows: list[tuple[str, ...]] = [head]
    for name, svc in sorted(status.services.items()):
        rep = svc.replication
        rpo = "-"
        if rep.jobs:
            rpo = _seconds(rep.rpo_seconds) + "/" + _seconds(rep.rpo_objective_seconds)
            rpo += " !" if rep.warning else ""
        state = svc.state + (f" ({svc.blocked})" if svc.blocked else "")
        if svc.paused_until:
            state += f" ({_seconds(max(0.0, svc.paused_until - now))} left)"
        rows.append(
            (
                name,
                state,
                svc.active,
                svc.mode,
                *_sides(svc),
                _seconds(svc.last_round_age_seconds),
                rpo,
                _last(svc, now),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        print(f"failoverd: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    cfg = _validate(args.config)
    if cfg is None:
        return 2
    from failoverd.app import daemon
    from failoverd.store import StoreError

    try:
        return daemon.run(cfg, args.config)
    except StoreError as e:
        print(f"failoverd: {e}", file=sys.stderr)
        return 2


def _status(args: argparse.Namespace) -> int:
    code, data = _request(args.api.rstrip("/") + "/v1/status")
    if code != 200:
        print(f"failoverd: {args.api} answered {code}: {data}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    try:
        _print_status(data)
    except ValidationError as e:
        print(f"failoverd: {args.api} answered a status this CLI cannot read: {e}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    import asyncio

    from failoverd.app import demo

    return asyncio.run(demo.run(keep_running=args.keep_running))


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(config.json_schema(), indent=2))
    return 0


def _command(args: argparse.Namespace) -> int:
    """failover | failback | pause | resume, through the API with the token."""
    token = _token(args.token_file)
    url = f"{args.api.rstrip('/')}/v1/services/{args.service}/{args.command}"
    body: dict[str, Any] = {"reason": args.reason}
    if getattr(args, "force", False):
        body["force"] = True
    if getattr(args, "pause_for", None):
        body["for"] = args.pause_for
    code, data = _request(url, "POST", body, token)
    if code == 202:
        print(f"{args.command} of {args.service} accepted: {data.get('detail', '')}")
        return 0
    print(
        f"failoverd: {args.command} refused ({code}): {data.get('detail') or data.get('error')}",
        file=sys.stderr,
    )
    return 2 if code in (400, 401, 404) else 1


def _explain(args: argparse.Namespace) -> int:
    code, data = _request(f"{args.api.rstrip('/')}/v1/services/{args.service}/explain")
    if code != 200:
        print(f"failoverd: {data.get('detail') or data.get('error')}", file=sys.stderr)
        return 2 if code == 404 else 1
    d = data.get("decision")
    if not d:
        print(f"{args.service}: no round has been decided yet")
        return 0
    print(
        f"{args.service}: {d['from']} -> {d['to']} (traffic on the {d['active']}, "
        f"automation {d['automation']}, mode {d['mode']})"
    )
    print(f"  reason: {d['reason']}")
    for side in ("primary", "standby"):
        verdict = "healthy" if d["verdict"].get(side) else "FAILED"
        print(
            f"  {side}: round {verdict} by quorum {d['quorum']}; "
            f"{d['consecutive_failed'][side]} failed / {d['failure_threshold']} "
            f"to fail over, {d['consecutive_ok'][side]} ok / {d['recovery_threshold']} to be ready"
            f"{' (ready)' if d['ready'][side] else ''}"
        )
        for p in d["probes"][side]:
            print(f"    {'ok  ' if p['ok'] else 'FAIL'} {p['probe']}: {p['reason']}")
    print(
        f"  hold_down left: {_seconds(d['hold_down_left_seconds'])}; "
        f"RPO now: {_seconds(d['rpo_seconds'])} {d['replication_ages'] or ''}".rstrip()
    )
    if d["actions"]:
        print(f"  actions: {', '.join(d['actions'])}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    code, data = _request(f"{args.api.rstrip('/')}/v1/audit?limit={args.limit}")
    if code != 200:
        print(f"failoverd: {args.api} answered {code}", file=sys.stderr)
        return 1
    for e in data.get("audit", []):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["time"]))
        extra = " ".join(f"{k}={e[k]}" for k in ("client", "force", "pause_for") if k in e)
        print(
            f"{when}Z {e['who']:10} {e['action']:18} {e['service']:16} {e['result']:10} "
            f"{e.get('reason', '')} {extra}".rstrip()
        )
    return 0


def _drill(args: argparse.Namespace) -> int:
    """Start the drill, wait for it, write DIR/drill-ID.{json,md,html}; 0 passed, else 1."""
    from failoverd.drill import report

    api = args.api.rstrip("/")
    body = {"kind": args.kind, "reason": args.reason, "soak": args.soak}
    code, data = _request(
        f"{api}/v1/services/{args.service}/drill", "POST", body, _token(args.token_file)
    )
    if code != 202:
        print(
            f"failoverd: drill refused ({code}): {data.get('detail') or data.get('error')}",
            file=sys.stderr,
        )
        return 2 if code in (400, 401, 404) else 1
    drill_id = data["drill"]
    print(f"drill {drill_id} ({args.kind}) of {args.service} started", flush=True)
    while True:
        code, found = _request(f"{api}/v1/drills/{drill_id}")
        if code == 200 and found["outcome"] != "running":
            break
        time.sleep(1.0)
    args.report_dir.mkdir(parents=True, exist_ok=True)
    base = args.report_dir / f"drill-{drill_id}"
    base.with_suffix(".json").write_text(report.as_json(found))
    base.with_suffix(".md").write_text(report.as_markdown(found))
    base.with_suffix(".html").write_text(report.as_html(found))
    print(report.headline(found))
    print(f"report: {base}.json, .md, .html")
    return 0 if found["outcome"] == "passed" else 1


_HANDLERS = {
    "validate": lambda args: _validate_cmd(args),
    "schema": _schema,
    "demo": _demo,
    "run": _run,
    "status": _status,
    "notify-test": _notify_test,
    "explain": _explain,
    "drill": _drill,
    "audit": _audit,
}


def _dispatch(args: argparse.Namespace) -> int:
    handler: Any = _HANDLERS.get(args.command, _command)
    code: int = handler(args)
    return code
