"""HTTP probe: a GET through the daemon's shared session; status (and optionally body) decide."""

from __future__ import annotations

import os
import ssl
import time

import aiohttp

from failoverd import config
from failoverd.probes import Observation

_MAX_BODY = 64 * 1024


class HttpProbe:
    def __init__(
        self, spec: config.HttpProbe, session: aiohttp.ClientSession, ssl_ctx: ssl.SSLContext | bool
    ) -> None:
        self.spec, self.session, self.ssl = spec, session, ssl_ctx
        self.timeout = aiohttp.ClientTimeout(total=spec.timeout)

    async def __call__(self) -> Observation:
        start = time.perf_counter()
        try:
            async with self.session.get(
                self.spec.url, timeout=self.timeout, ssl=self.ssl, allow_redirects=False
            ) as resp:
                if resp.status not in self.spec.expect_status:
                    return Observation(False, time.perf_counter() - start, f"HTTP {resp.status}")
                if self.spec.body_contains is not None:
                    body = await resp.content.read(_MAX_BODY)
                    if self.spec.body_contains.encode() not in body:
                        detail = f"HTTP {resp.status}, body lacks {self.spec.body_contains!r}"
                        return Observation(False, time.perf_counter() - start, detail)
                return Observation(True, time.perf_counter() - start, f"HTTP {resp.status}")
        except TimeoutError:
            return Observation(
                False, time.perf_counter() - start, f"timeout after {self.spec.timeout:g}s"
            )
        except aiohttp.ClientConnectorError as e:
            err = e.os_error
            reason = os.strerror(err.errno) if err.errno else str(err)
            return Observation(False, time.perf_counter() - start, f"connect: {reason}")
        except aiohttp.ClientError as e:
            return Observation(False, time.perf_counter() - start, f"{type(e).__name__}: {e}"[:200])
