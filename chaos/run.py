"""The chaos lab: run fault scenarios against `failoverd run` on loopback and judge them.

    python chaos/run.py [--quick] [--only NAME ...] [--results DIR]

Each scenario is a YAML file in chaos/scenarios/: a timeline of faults and an expected outcome.
The lab is a real BIND, HTTP backends whose health is switched, and the daemon as a process with
the default policy (quick runs shorten the interval to 500ms; thresholds stay the defaults).
Each side has three probes (two HTTP, one TCP) and the default quorum (majority).
Writes DIR/NAME.json per scenario and prints one verdict line each; exits 1 if any failed.

Timeline steps (run in order):
    {wait: EVENT, ...fields}      await a daemon log event (e.g. wait: side_ready, side: standby)
    {sleep: 20s}                  let a fault last
    {primary|standby: MODE, ...}  up | down | 503 | slow (delay) | flaky (rate, jitter) | flap (pattern)
    {dns: down|up}                stop or restart BIND
    {daemon: kill|restart|hup-broken|second}
    {mark: NAME}                  remember now (expect.detect_within measures from mark "outage")
    {disk: full|free}             fill the state filesystem (needs `state_fs:`) or free it
    {primary: partition}          cut 127.0.0.1 only off the primary (needs `witness: true`)
    {witness: kill}               kill the witness daemon
    {healthz: 503}                GET /healthz must answer this (recorded in the result)
    {settle: STATE, timeout: 10s} await the service reaching STATE (now, or by a transition)
    {leader: kill|term|blackhole} (arbiter: true) SIGKILL or SIGTERM the lease's holder, or cut
                                  it off the API server; marks "leader_loss"
    {drill: readiness|full}       POST a drill (its outcome is judged by expect.drill)
    {pods: held|released}         (warm: true) the standby cluster's pods stop / start becoming
                                  ready (a scale-up that waits for readiness waits)
A scenario may add `policy:` (over the defaults), `service:` (merged into the service) and
`state_fs: SIZE` (the state directory on a tmpfs of that size; needs root) and `witness: true`
(a second, observe-only daemon probing the sides on 127.0.0.2, asked by a witness probe) and
`arbiter: true` (two replicas, a and b, sharing a Lease and the state in an emulated arbiter
cluster; lease 3s, renew deadline 2s, retry 500ms; waits are on whichever replica logs first)
and `warm: true` (warm mode over two emulated clusters: beijing runs the app on 3 replicas,
shanghai keeps it at 0 and prepare scales it to 3; a kubernetes probe on each side).
Expectations (`expect:`; `expect_full:` adds those a full run checks but a --quick CI run only
measures: a bound with no margin belongs in a benchmark): failovers, state, active, dns,
detect_within (seconds or "policy"),
switch_attempts_at_least, events (that must be logged), second_exit, drill (the outcome of
the newest drill), standby_replicas (warm: the standby Deployment's replicas), takeover_within
(seconds from the leader's loss to the other replica acting; arbiter runs also fail on any
write with an older epoch after a newer one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from failoverd.config.durations import parse_duration
from tests import lab
from tests.lab import ha as lab_ha
from tests.lab import kube as lab_kube

HERE = Path(__file__).resolve().parent
DEFAULTS = {"interval": 2.0, "failure_threshold": 3}


WITNESS_ADDRESS = "127.0.0.2"  # the witness's vantage point: the backends listen here too


def probes(b: lab.Backend, timeout: str, address: str = lab.LOOPBACK) -> list[dict[str, Any]]:
    return [
        {"http": {"name": "healthz", "url": b.url_on(address), "timeout": timeout}},
        {"http": {"name": "healthz-2", "url": b.url_on(address) + "?probe=2", "timeout": timeout}},
        {"tcp": {"name": "tcp", "host": address, "port": b.port, "timeout": timeout}},
    ]


class Run:
    """One scenario run: its lab, its daemon, its measurements."""

    def __init__(self, scenario: dict[str, Any], bind: lab.Bind, quick: bool, tmp: Path) -> None:
        self.sc, self.bind, self.quick, self.tmp = scenario, bind, quick, tmp
        self.marks: dict[str, float] = {}  # monotonic
        self.walls: dict[str, float] = {}  # the same marks, wall clock (log timestamps are wall)
        self.notes: list[str] = []
        self.second_exit: int | None = None
        self.policy = {"interval": "500ms"} if quick else {}
        self.policy.update(scenario.get("policy", {}))
        self.probe_timeout = scenario.get("probe_timeout") or ("400ms" if quick else "1s")
        self.step_failures: list[str] = []
        self.healthz: list[dict[str, Any]] = []
        self.state_dir = tmp
        self.witness: lab.Daemon | None = None
        self.arb: lab_ha.Arbiter | None = None
        self.takeover: float | None = None
        self.standby_cluster: lab_kube.Cluster | None = None  # warm: true
        self.kubeconfig: Path | None = None
        self.drill_outcome: str | None = None
        self.drills: list[str] = []

    def config(self, primary: lab.Backend, standby: lab.Backend) -> dict[str, Any]:
        token = self.tmp / "token"
        token.write_text("chaos")
        cfg = lab.hot_config(
            self.bind, primary, standby, self.state_dir, lab.free_port(), token, interval="2s"
        )
        svc = cfg["services"]["webapp"]
        svc["policy"] = dict(self.policy)  # the defaults, but for what the scenario sets
        svc["probes"] = {
            "primary": probes(primary, self.probe_timeout),
            "standby": probes(standby, self.probe_timeout),
        }
        if self.witness is not None:
            svc["probes"]["primary"].append(
                {
                    "witness": {
                        "name": "bastion",
                        "api": self.witness.api,
                        "timeout": self.probe_timeout,
                    }
                }
            )
        if self.kubeconfig is not None:
            lab_kube.make_warm(cfg, self.kubeconfig, self.probe_timeout)
        svc.update(self.sc.get("service", {}))
        return cfg

    async def start_witness(self, primary: lab.Backend, standby: lab.Backend) -> lab.Daemon:
        """A second, observe-only failoverd probing the sides on 127.0.0.2."""
        port = lab.free_port()
        svc = {
            "primary": "beijing",
            "standby": "shanghai",
            "probes": {
                "primary": probes(primary, self.probe_timeout, WITNESS_ADDRESS),
                "standby": probes(standby, self.probe_timeout, WITNESS_ADDRESS),
            },
            "policy": dict(self.policy),
        }
        cfg = {
            "api": {"listen": f"{lab.LOOPBACK}:{port}"},
            "log": {"format": "json"},
            "state": {"path": str(self.tmp / "witness" / "state.json")},
            "observe_only": True,
            "services": {"webapp": svc},
        }
        w = lab.Daemon(lab.write_config(self.tmp / "witness.yaml", cfg), port, "chaos")
        await w.start()
        return w

    async def backend(self, b: lab.Backend, step: dict[str, Any], mode: str) -> None:
        b.rate, b.jitter, b.pattern = 0.0, 0.0, None
        if mode == "partition":  # only the arbiter's address (127.0.0.1) is cut off
            await b.partition(lab.LOOPBACK)
            return
        if mode == "down":
            await b.down()
            return
        await b.up()
        if mode == "503":
            b.mode = "503"
        elif mode == "slow":
            b.mode, b.delay = "slow", parse_duration(step.get("delay", "2s"))
        elif mode == "flaky":
            b.rate, b.jitter = (
                float(step.get("rate", 0.1)),
                parse_duration(step.get("jitter", "0s")),
            )
        elif mode == "flap":
            b.flap([bool(x) for x in step["pattern"]])

    async def execute(self) -> dict[str, Any]:
        if self.sc.get("warm"):
            async with lab_kube.warm_regions(self.tmp) as (_, standby, kubeconfig):
                self.standby_cluster, self.kubeconfig = standby, kubeconfig
                return await self._execute()
        if "state_fs" not in self.sc:
            return await self._execute()
        fs = self.tmp / "statefs"
        fs.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.sc['state_fs']}", "tmpfs", str(fs)],
            check=True,
            capture_output=True,
        )
        self.state_dir = fs
        try:
            return await self._execute()
        finally:
            subprocess.run(["umount", "-l", str(fs)], check=False)

    async def _execute_arbiter(self) -> dict[str, Any]:
        """Two replicas of an arbiter Deployment: the timeline's waits go to either."""
        self.bind.set_record(lab.PRIMARY_IP)
        async with lab.backends(2) as (primary, standby):
            base = self.config(primary, standby)
            async with lab_ha.arbiter(self.tmp, base, "chaos") as arb:
                self.arb = arb
                a, b = (r.daemon for r in arb.replicas)
                await a.start(wait_for="leading")
                await b.start()
                self.daemons = [a, b]
                started = time.monotonic()
                for step in self.sc["timeline"]:
                    if "leader" in step:
                        await self.leader_step(step["leader"])
                    elif "wait" in step:
                        fields = {k: v for k, v in step.items() if k not in ("wait", "timeout")}
                        await arb.first(
                            step["wait"], parse_duration(step.get("timeout", "60s")), **fields
                        )
                    else:
                        await self.step(step, a, primary, standby, self.tmp / "a.yaml")
                holder = arb.replica(arb.holder()).daemon
                return self.judge(await self.status(holder), started)

    async def leader_step(self, what: str) -> None:
        assert self.arb is not None, "leader steps need arbiter: true"
        leader = self.arb.replica(self.arb.holder())
        self.marks["leader_loss"] = time.monotonic()
        if what == "kill":
            await leader.daemon.kill()
        elif what == "term":
            await leader.daemon.signal(__import__("signal").SIGTERM)
        elif what == "blackhole":
            leader.hole.hole = True
        else:
            raise ValueError(f"unknown leader step {what}")
        others = [r for r in self.arb.replicas if r is not leader]
        acting = await others[0].daemon.wait_for("leading", timeout=30)
        self.takeover = round(acting["_t"] - self.marks["leader_loss"], 3)

    async def _execute(self) -> dict[str, Any]:
        if self.sc.get("arbiter"):
            return await self._execute_arbiter()
        self.bind.set_record(lab.PRIMARY_IP)
        also = (WITNESS_ADDRESS,) if self.sc.get("witness") else ()
        async with lab.backends(2, also=also) as (primary, standby):
            if also:
                self.witness = await self.start_witness(primary, standby)
            path = lab.write_config(self.tmp / "failoverd.yaml", self.config(primary, standby))
            api_port = int(yaml.safe_load(path.read_text())["api"]["listen"].rsplit(":", 1)[1])
            d = lab.Daemon(path, api_port, "chaos")
            self.daemons = [d]
            await d.start()
            started = time.monotonic()
            try:
                for step in self.sc["timeline"]:
                    d = await self.step(step, d, primary, standby, path)
                status = await self.status(d)
                await self.drill_verdict(d)
            finally:
                for each in [*self.daemons, *([self.witness] if self.witness else [])]:
                    await each.kill()
                with contextlib.suppress(Exception):
                    self.bind.start() if self.bind.proc is None else None
            return self.judge(status, started)

    async def step(
        self,
        step: dict[str, Any],
        d: lab.Daemon,
        primary: lab.Backend,
        standby: lab.Backend,
        path: Path,
    ) -> lab.Daemon:
        if "wait" in step:
            fields = {k: v for k, v in step.items() if k not in ("wait", "timeout", "nth")}
            await d.wait_for(
                step["wait"],
                timeout=parse_duration(step.get("timeout", "60s")),
                nth=step.get("nth", 1),
                **fields,
            )
        elif "sleep" in step:
            await asyncio.sleep(parse_duration(step["sleep"]))
        elif "settle" in step:
            await self.settle(d, step["settle"], parse_duration(step.get("timeout", "10s")))
        elif "mark" in step:
            self.marks[step["mark"]] = time.monotonic()
            self.walls[step["mark"]] = time.time()
        elif "primary" in step or "standby" in step:
            side = "primary" if "primary" in step else "standby"
            await self.backend(primary if side == "primary" else standby, step, step[side])
        elif "dns" in step:
            self.bind.stop() if step["dns"] == "down" else self.bind.start()
        elif "disk" in step:
            self.disk(step["disk"])
        elif "healthz" in step:
            async with aiohttp.ClientSession() as http, http.get(f"{d.api}/healthz") as r:
                seen = {"status": r.status, "body": await r.json()}
            self.healthz.append(seen)
            if r.status != int(step["healthz"]):
                self.step_failures.append(
                    f"/healthz answered {r.status}, expected {step['healthz']}"
                )
        elif "daemon" in step:
            d = await self.daemon_step(step["daemon"], d, path)
        elif "drill" in step or "pods" in step or "witness" in step:
            await self.lab_step(step, d)
        else:
            raise ValueError(f"unknown timeline step {step}")
        return d

    async def lab_step(self, step: dict[str, Any], d: lab.Daemon) -> None:
        """A drill asked for, the standby's pods held back (warm: true) or let go, a witness
        killed."""
        if "drill" in step:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{d.api}/v1/services/webapp/drill",
                    json={"kind": step["drill"], "reason": "chaos"},
                    headers={"Authorization": f"Bearer {d.token}"},
                ) as r,
            ):
                if r.status != 202:
                    self.step_failures.append(f"the drill was refused: {r.status}")
                else:
                    self.drills.append((await r.json())["drill"])
        elif "pods" in step:
            assert self.standby_cluster is not None, "pods steps need warm: true"
            self.standby_cluster.pods_held = step["pods"] == "held"
        elif step.get("witness") == "kill":
            assert self.witness is not None, "the scenario needs witness: true"
            await self.witness.kill()
        else:
            raise ValueError(f"unknown timeline step {step}")

    async def daemon_step(self, what: str, d: lab.Daemon, path: Path) -> lab.Daemon:
        if what == "kill":
            await d.kill()
        elif what == "restart":
            d = lab.Daemon(path, d.api_port, "chaos")
            self.daemons.append(d)
            await d.start()
        elif what == "hup-broken":
            path.write_text(path.read_text().replace("services:", "services:\n  broken: [", 1))
            await d.signal(__import__("signal").SIGHUP)
        elif what == "second":
            second = lab.Daemon(path, lab.free_port(), "chaos")
            second.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "failoverd",
                "run",
                "-c",
                str(path),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await asyncio.wait_for(second.proc.communicate(), 30)
            self.second_exit = second.proc.returncode
            self.notes.append(err.decode().strip().splitlines()[-1] if err else "")
        else:
            raise ValueError(f"unknown daemon step {what}")
        return d

    async def settle(self, d: lab.Daemon, state: str, timeout: float) -> None:
        """Await the service in this state: already (status), or by its next transition there."""
        seen = len(d.matching("transition", to=state))
        if (await self.status(d))["state"] != state:
            await d.wait_for("transition", timeout=timeout, nth=seen + 1, to=state)

    async def check_healthz(self, d: lab.Daemon, expected: int) -> None:
        async with aiohttp.ClientSession() as http, http.get(f"{d.api}/healthz") as r:
            self.healthz.append({"status": r.status, "body": await r.json()})
        if r.status != expected:
            self.step_failures.append(f"/healthz answered {r.status}, expected {expected}")

    def detection(
        self, within: Any, plans: list[dict[str, Any]], measured: dict[str, Any]
    ) -> list[str]:
        """Outage (mark "outage") -> failover decision, against the limit; the failures."""
        interval = parse_duration(self.policy.get("interval", "2s"))
        threshold = int(self.policy.get("failure_threshold", DEFAULTS["failure_threshold"]))
        timeout = parse_duration(self.probe_timeout)
        fast = self.policy.get("suspect_interval")
        rounds = interval + (threshold - 1) * parse_duration(fast) if fast else interval * threshold
        limit = rounds + timeout if within == "policy" else float(within)
        # the decision's time as the daemon logged it (not when the line reached us through the
        # pipe: a busy lab loop would add its lag); the mark's wall time beside it
        stamp = plans[0]["timestamp"] if plans else None
        detected = (
            stamp and datetime.datetime.fromisoformat(stamp).timestamp() - self.walls["outage"]
        )
        measured["detect_seconds"] = detected and round(detected, 3)
        measured["detect_limit_seconds"] = limit
        # +50ms: the daemon's scheduling on a loaded 2-core machine (the mark itself comes
        # before the fault, which only lengthens what is measured)
        if detected is None or detected > limit + 0.05:
            return [f"detected in {detected}s, limit {limit:g}s"]
        return []

    def observations(self, status: dict[str, Any]) -> dict[str, Any]:
        """What the scenario's extras recorded: /healthz answers, every probe's last answer."""
        out: dict[str, Any] = {}
        if self.healthz:
            out["healthz"] = self.healthz
        if self.witness is not None:
            out["primary_probes"] = {p["probe"]: p["reason"] for p in status["probes"]["primary"]}
        return out

    def disk(self, what: str) -> None:
        filler = self.state_dir / "filler"
        if what == "free":
            filler.unlink(missing_ok=True)
            return
        with contextlib.suppress(OSError), open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
                os.fsync(f.fileno())

    async def drill_verdict(self, d: lab.Daemon) -> None:
        """The newest drill's outcome, once it has one."""
        if not self.drills:
            return
        await d.wait_for("drill_done", drill=self.drills[-1], timeout=30)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{d.api}/v1/drills/{self.drills[-1]}") as r:
                self.drill_outcome = (await r.json())["outcome"]

    async def status(self, d: lab.Daemon) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"{d.api}/v1/status") as r:
            svc: dict[str, Any] = (await r.json())["services"]["webapp"]
            return svc

    def judge_warm(self, exp: dict[str, Any], measured: dict[str, Any]) -> list[str]:
        """The drill's outcome and the standby's replicas, against what the scenario expects."""
        failures: list[str] = []
        if "drill" in exp:
            measured["drill"] = self.drill_outcome
            if self.drill_outcome != exp["drill"]:
                failures.append(f"the drill ended {self.drill_outcome}, expected {exp['drill']}")
        if "standby_replicas" in exp:
            assert self.standby_cluster is not None, "standby_replicas needs warm: true"
            replicas = self.standby_cluster.replicas("webapp")[0]
            measured["standby_replicas"] = replicas
            if replicas != exp["standby_replicas"]:
                failures.append(
                    f"the standby runs {replicas} replicas, expected {exp['standby_replicas']}"
                )
        return failures

    def expectations(self) -> dict[str, Any]:
        """expect:, and expect_full: on a full run (a quick CI run only measures those)."""
        exp = dict(self.sc.get("expect", {}))
        if not self.quick:  # bounds with no margin on a busy machine: measured, not CI gates
            exp |= self.sc.get("expect_full", {})
        return exp

    def judge_detection(
        self, exp: dict[str, Any], plans: list[dict[str, Any]], measured: dict[str, Any]
    ) -> list[str]:
        if "detect_within" in exp:
            return self.detection(exp["detect_within"], plans, measured)
        if "detect_within" in self.sc.get("expect_full", {}):  # quick: measured only
            self.detection(self.sc["expect_full"]["detect_within"], plans, measured)
        return []

    def judge(self, status: dict[str, Any], started: float) -> dict[str, Any]:
        exp = self.expectations()
        lines = [ln for d in self.daemons for ln in d.lines]
        plans = [
            ln for ln in lines if ln.get("event") == "plan_start" and ln.get("kind") == "failover"
        ]
        done = [
            ln
            for ln in lines
            if ln.get("event") == "plan_done"
            and ln.get("kind") == "failover"
            and ln.get("result") == "success"
        ]
        answer = self.bind.answer()
        dns_side = (
            "primary"
            if answer == [lab.PRIMARY_IP]
            else "standby"
            if answer == [lab.STANDBY_IP]
            else str(answer)
        )
        failures: list[str] = list(self.step_failures)
        measured: dict[str, Any] = {
            "failovers": len(done),
            "failover_plans_started": len(plans),
            "state": status["state"],
            "active": status["active"],
            "dns": dns_side,
            "seconds": round(time.monotonic() - started, 1),
        }
        for key in ("failovers", "state", "active", "dns"):
            if key in exp and measured[key] != exp[key]:
                failures.append(f"{key} is {measured[key]!r}, expected {exp[key]!r}")
        failures += self.judge_detection(exp, plans, measured)
        if "switch_attempts_at_least" in exp:
            steps = (status.get("last_failover") or {}).get("steps", [])
            attempts = next((s["attempts"] for s in steps if s["name"] == "switch"), 0)
            measured["switch_attempts"] = attempts
            if attempts < exp["switch_attempts_at_least"]:
                failures.append(
                    f"switch took {attempts} attempts, expected >= {exp['switch_attempts_at_least']}"
                )
        failures += self.judge_warm(exp, measured)
        for event in exp.get("events", []):
            if not any(ln.get("event") == event for ln in lines):
                failures.append(f"no {event} logged")
        if "second_exit" in exp:
            measured["second_exit"] = self.second_exit
            if self.second_exit != exp["second_exit"]:
                failures.append(
                    f"the second daemon exited {self.second_exit}, expected {exp['second_exit']}"
                )
        measured |= self.observations(status)
        if self.arb is not None:
            measured["takeover_seconds"] = self.takeover
            measured["epochs_written"] = len(self.arb.epochs())
            failures += [f"overlap: {x}" for x in self.arb.overlaps()]
            within = exp.get("takeover_within")
            if within is not None and (self.takeover is None or self.takeover > float(within)):
                failures.append(f"takeover took {self.takeover}s, limit {within}s")
        return {
            "name": self.sc["name"],
            "verdict": "FAIL" if failures else "PASS",
            "failures": failures,
            "measured": measured,
            "notes": self.notes,
            "policy": self.policy,
        }


def verdict_line(result: dict[str, Any]) -> str:
    m = result["measured"]
    bits = [f"failovers={m['failovers']}", f"state={m['state']}", f"dns={m['dns']}"]
    if "detect_seconds" in m:
        bits.append(f"detected={m['detect_seconds']}s/limit={m['detect_limit_seconds']:g}s")
    if m.get("takeover_seconds") is not None:
        bits.append(f"takeover={m['takeover_seconds']}s")
    if "switch_attempts" in m:
        bits.append(f"switch_attempts={m['switch_attempts']}")
    why = f" ({'; '.join(result['failures'])})" if result["failures"] else ""
    return f"{result['verdict']} {result['name']}: {' '.join(bits)} in {m['seconds']}s{why}"


async def main_async(args: argparse.Namespace) -> int:
    files = sorted((HERE / "scenarios").glob("*.yaml"))
    scenarios = [yaml.safe_load(f.read_text()) for f in files]
    if args.only:
        scenarios = [s for s in scenarios if s["name"] in args.only]
    elif args.quick:
        scenarios = [s for s in scenarios if s.get("quick", True)]
    args.results.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="failoverd-chaos-"))
    bind = lab.make_bind(tmp / "bind")
    bind.start()
    failed = 0
    try:
        for sc in scenarios:
            run_dir = tmp / sc["name"]
            run_dir.mkdir()
            try:
                result = await Run(sc, bind, args.quick, run_dir).execute()
            except (AssertionError, TimeoutError) as e:
                result = {
                    "name": sc["name"],
                    "verdict": "FAIL",
                    "failures": [" / ".join(str(e).splitlines()[:4])],
                    "measured": {"failovers": "?", "state": "?", "dns": "?", "seconds": "?"},
                    "notes": [],
                }
            (args.results / f"{sc['name']}.json").write_text(json.dumps(result, indent=2))
            print(verdict_line(result), flush=True)
            failed += result["verdict"] != "PASS"
    finally:
        bind.stop()
    print(f"{len(scenarios) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="the CI set: no soak, interval 500ms")
    ap.add_argument("--only", nargs="*", help="run only these scenarios (by name)")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
