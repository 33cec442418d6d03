"""DNS probe: ask one server for a name; healthy when it answers (with the expected values)."""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode

from failoverd.clients.dns import rrset_values
from failoverd.config import DnsProbe as Spec
from failoverd.probes.base import Observation, ProbeContext, Timer, register


class DnsProbe:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.host, self.port = spec.host_port
        self.qname = spec.qname if spec.qname.endswith(".") else spec.qname + "."

    async def __call__(self) -> Observation:
        t = Timer()
        query = dns.message.make_query(self.qname, self.spec.type)
        try:
            answer = await dns.asyncquery.udp(
                query, self.host, port=self.port, timeout=self.spec.timeout
            )
        except dns.exception.Timeout:
            return t.failed(f"timeout after {self.spec.timeout:g}s")
        except (OSError, dns.exception.DNSException) as e:
            return t.failed(f"{type(e).__name__}: {e}")
        if answer.rcode() != dns.rcode.NOERROR:
            return t.failed(dns.rcode.to_text(answer.rcode()))
        values = rrset_values(answer, self.qname, self.spec.type)
        if self.spec.expect and values != sorted(self.spec.expect):
            return t.failed(f"answer {values} != expected {sorted(self.spec.expect)}")
        if not values:
            return t.failed("no answer")
        return t.result(True, ",".join(values))


@register("dns")
def build(spec: Spec, ctx: ProbeContext) -> DnsProbe:
    return DnsProbe(spec)
