"""A real Prometheus in the lab (Debian's `prometheus`): it scrapes daemons on 127.0.0.1 with the
project's alert rules loaded as they ship, and tests ask its API which alerts fire.

promtool's unit tests feed series written by hand; only a real scrape shows what the daemon's
exposition does to a rule (a counter born at 1 has no sample before it, so increase() of its
first event is nothing, and the alert stays silent).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml

from tests.lab import LOOPBACK, free_port

RULES = Path(__file__).resolve().parents[2] / "config" / "prometheus" / "failoverd-rules.yaml"
T = TypeVar("T")


def binary() -> str | None:
    """Debian's prometheus (package `prometheus`, installed by `make bind9`), if installed."""
    return shutil.which("prometheus")


@dataclass
class Prometheus:
    url: str
    log: Path
    http: aiohttp.ClientSession

    async def _get(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.url}{path}", params=params) as r:
            body = await r.json()
        assert body["status"] == "success", body
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector."""
        data = await self._get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def alerts(self) -> list[dict[str, Any]]:
        """Every alert pending or firing now (GET /api/v1/alerts)."""
        data = await self._get("/api/v1/alerts")
        found: list[dict[str, Any]] = data["alerts"]
        return found

    async def until(self, what: str, check: Callable[[], Awaitable[T | None]], timeout: float) -> T:
        """Ask `check` every 200 ms until it answers something; fail after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while (found := await check()) is None:  # noqa: ASYNC110 (an HTTP API: no event)
                    await asyncio.sleep(0.2)
                return found
        except TimeoutError:
            alerts: object = "unknown"
            with contextlib.suppress(aiohttp.ClientError, AssertionError):
                alerts = await self.alerts()
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-10:])
            raise AssertionError(
                f"{what}: not within {timeout}s; alerts now: {alerts}\nprometheus log tail:\n{tail}"
            ) from None

    async def scraped(self, job: str, timeout: float = 10.0) -> None:
        """Until a scrape of every target of `job` succeeded."""

        async def up() -> bool | None:
            vector = await self.query(f'up{{job="{job}"}}')
            return True if vector and all(v["value"][1] == "1" for v in vector) else None

        await self.until(f"a scrape of job {job}", up, timeout)

    async def firing(self, alert: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Until `alert` fires; its firing instances."""

        async def fired() -> list[dict[str, Any]] | None:
            hits = [
                a
                for a in await self.alerts()
                if a["labels"].get("alertname") == alert and a["state"] == "firing"
            ]
            return hits or None

        return await self.until(f"alert {alert} firing", fired, timeout)


@contextlib.asynccontextmanager
async def prometheus(
    directory: Path, targets: list[str], job: str = "failoverd", rules: Path = RULES
) -> AsyncIterator[Prometheus]:
    """Prometheus on a free 127.0.0.1 port, its storage in `directory`: it scrapes `targets`
    (host:port) as `job` and evaluates `rules` every second."""
    path = binary()
    if path is None:
        raise FileNotFoundError("prometheus is not installed (make bind9 installs it)")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = directory / "prometheus.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            path,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        async with aiohttp.ClientSession() as http:
            prom = Prometheus(f"http://{LOOPBACK}:{port}", log, http)

            async def ready() -> bool | None:
                if proc.returncode is not None:
                    raise AssertionError(f"prometheus exited {proc.returncode}: {log.read_text()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{prom.url}/-/ready") as r:
                        return True if r.status == 200 else None
                return None

            await prom.until("prometheus ready", ready, 20.0)
            yield prom
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
