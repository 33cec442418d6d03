"""HTTP probe: a GET through the daemon's shared session; status (and optionally body) decide."""

from __future__ import annotations

import os
import ssl

import aiohttp

from failoverd.config import HttpProbe as Spec
from failoverd.probes.base import Observation, ProbeContext, Timer, register

_MAX_BODY = 64 * 1024


def ssl_context(spec: Spec) -> ssl.SSLContext | bool:
    """TLS settings of the probe (True: the default context; False: no verification)."""
    if not spec.url.startswith("https://"):
        return True
    if not spec.verify_tls:
        return False
    return ssl.create_default_context(cafile=str(spec.ca_file) if spec.ca_file else None)


class HttpProbe:
    def __init__(
        self, spec: Spec, session: aiohttp.ClientSession, ssl_ctx: ssl.SSLContext | bool
    ) -> None:
        self.spec, self.session, self.ssl = spec, session, ssl_ctx
        self.timeout = aiohttp.ClientTimeout(total=spec.timeout)

    async def __call__(self) -> Observation:
        t = Timer()
        try:
            async with self.session.get(
                self.spec.url, timeout=self.timeout, ssl=self.ssl, allow_redirects=False
            ) as resp:
                if resp.status not in self.spec.expect_status:
                    return t.failed(f"HTTP {resp.status}")
                if self.spec.body_contains is not None:
                    body = await resp.content.read(_MAX_BODY)
                    if self.spec.body_contains.encode() not in body:
                        return t.failed(
                            f"HTTP {resp.status}, body lacks {self.spec.body_contains!r}"
                        )
                return t.result(True, f"HTTP {resp.status}")
        except TimeoutError:
            return t.failed(f"timeout after {self.spec.timeout:g}s")
        except aiohttp.ClientConnectorError as e:
            err = e.os_error
            reason = os.strerror(err.errno) if err.errno else str(err)
            return t.failed(f"connect: {reason}")
        except aiohttp.ClientError as e:
            return t.failed(f"{type(e).__name__}: {e}")


@register("http")
def build(spec: Spec, ctx: ProbeContext) -> HttpProbe:
    return HttpProbe(spec, ctx.session, ssl_context(spec))
