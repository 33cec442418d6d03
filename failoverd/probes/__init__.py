"""Probes: one module per kind (http, tcp, dns, kubernetes, command) over base.py's registry."""

from __future__ import annotations

import aiohttp

from failoverd.config import ProbeSpec
from failoverd.probes.base import Observation, Probe, ProbeContext, builder

__all__ = ["Observation", "Probe", "ProbeContext", "build", "session"]


def build(spec: ProbeSpec, ctx: ProbeContext) -> Probe:
    """The probe for one config entry, built by its kind's registered builder."""
    return builder(spec.kind)(spec.spec, ctx)


def session() -> aiohttp.ClientSession:
    """The one HTTP session all probes share.

    The pool is not capped: every probe is bounded by its own timeout, and a cap would make
    probes of healthy targets wait (and time out) behind probes of slow ones, turning one
    service's outage into false failures of the others.
    """
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
