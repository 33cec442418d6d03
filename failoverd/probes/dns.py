"""DNS probe: ask one server for a name; healthy when it answers (with the expected values)."""

from __future__ import annotations

import time

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode

from failoverd import config
from failoverd.dnsanswer import rrset_values
from failoverd.probes import Observation


class DnsProbe:
    def __init__(self, spec: config.DnsProbe) -> None:
        self.spec = spec
        self.host, self.port = spec.host_port
        self.qname = spec.qname if spec.qname.endswith(".") else spec.qname + "."

    async def __call__(self) -> Observation:
        start = time.perf_counter()
        query = dns.message.make_query(self.qname, self.spec.type)
        try:
            answer = await dns.asyncquery.udp(
                query, self.host, port=self.port, timeout=self.spec.timeout
            )
        except dns.exception.Timeout:
            return Observation(
                False, time.perf_counter() - start, f"timeout after {self.spec.timeout:g}s"
            )
        except (OSError, dns.exception.DNSException) as e:
            return Observation(False, time.perf_counter() - start, f"{type(e).__name__}: {e}"[:200])
        latency = time.perf_counter() - start
        if answer.rcode() != dns.rcode.NOERROR:
            return Observation(False, latency, dns.rcode.to_text(answer.rcode()))
        values = rrset_values(answer, self.qname, self.spec.type)
        if self.spec.expect and values != sorted(self.spec.expect):
            return Observation(
                False, latency, f"answer {values} != expected {sorted(self.spec.expect)}"
            )
        if not values:
            return Observation(False, latency, "no answer")
        return Observation(True, latency, ",".join(values))
