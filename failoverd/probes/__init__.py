"""Probes: each is an async callable that looks at one thing once and returns an Observation.

A probe never raises for a failed target: failure is data (ok=False with a short reason). It
enforces its own timeout, so one slow target cannot stretch a round.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from failoverd import config
from failoverd.kube import Clusters


@dataclass(frozen=True)
class Observation:
    ok: bool
    latency: float
    detail: str


Probe = Callable[[], Awaitable[Observation]]


def build(spec: config.ProbeSpec, session: aiohttp.ClientSession, clusters: Clusters) -> Probe:
    """The probe for one config entry; `session` is the daemon's one shared HTTP session."""
    from failoverd.probes import command, dns, http, kubernetes, tcp

    if spec.http is not None:
        return http.HttpProbe(spec.http, session, _ssl_context(spec.http))
    if spec.tcp is not None:
        return tcp.TcpProbe(spec.tcp)
    if spec.dns is not None:
        return dns.DnsProbe(spec.dns)
    if spec.kubernetes is not None:
        return kubernetes.KubernetesProbe(spec.kubernetes, clusters)
    assert spec.command is not None
    return command.CommandProbe(spec.command)


def session() -> aiohttp.ClientSession:
    """The one HTTP session all probes share.

    The pool is not capped: every probe is bounded by its own timeout, and a cap would make
    probes of healthy targets wait (and time out) behind probes of slow ones, turning one
    service's outage into false failures of the others.
    """
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)


def _ssl_context(spec: config.HttpProbe) -> ssl.SSLContext | bool:
    if not spec.url.startswith("https://"):
        return True
    if not spec.verify_tls:
        return False
    return ssl.create_default_context(cafile=str(spec.ca_file) if spec.ca_file else None)
