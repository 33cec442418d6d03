"""HTTP probe: a GET through the daemon's shared session; status (and optionally body) decide."""

from __future__ import annotations

import hashlib
import os
import ssl

import aiohttp

from failoverd.config import HttpProbe as Spec
from failoverd.probes.base import Observation, ProbeContext, Timer, register

_MAX_BODY = 64 * 1024


# ca_file -> (its content's digest, the context made from it): probes naming one CA bundle share
# one context; a bundle rotated on disk gets a new one at the next build (start, reload).
_CONTEXTS: dict[str, tuple[bytes, ssl.SSLContext]] = {}


def ssl_context(spec: Spec) -> ssl.SSLContext | bool:
    """TLS settings of the probe: True is aiohttp's shared, verifying default context; False
    is no verification; a ca_file gets a context of its own, shared by every probe naming it.

    A context loads its CA bundle into memory (about 0.8 MB for the system's), so one per probe
    would cost 240 MB at 300 HTTPS probes.
    """
    if not spec.url.startswith("https://") or (spec.verify_tls and not spec.ca_file):
        return True
    if not spec.verify_tls:
        return False
    path = str(spec.ca_file)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).digest()
    known = _CONTEXTS.get(path)
    if known is None or known[0] != digest:
        known = _CONTEXTS[path] = (digest, ssl.create_default_context(cafile=path))
    return known[1]


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
        except aiohttp.ClientConnectorCertificateError as e:
            cert = e.certificate_error
            why = getattr(cert, "verify_message", "") or getattr(cert, "reason", "") or cert
            return t.failed(f"TLS: certificate verify failed: {why}")
        except aiohttp.ClientConnectorSSLError as e:
            return t.failed(
                f"TLS: handshake failed: {getattr(e.os_error, 'reason', None) or e.os_error}"
            )
        except aiohttp.ClientConnectorError as e:
            err = e.os_error
            reason = os.strerror(err.errno) if err.errno else str(err)
            return t.failed(f"connect: {reason}")
        except aiohttp.ClientError as e:
            return t.failed(f"{type(e).__name__}: {e}")


@register("http")
def build(spec: Spec, ctx: ProbeContext) -> HttpProbe:
    return HttpProbe(spec, ctx.session, ssl_context(spec))
