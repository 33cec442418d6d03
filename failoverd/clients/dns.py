"""Reading values out of a DNS answer, shared by the dns probe and the RFC 2136 switch."""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.message
import dns.rdatatype


def rrset_values(answer: dns.message.Message, qname: str, rdtype: str) -> list[str]:
    """The values of `qname`/`rdtype` in an answer, as text, sorted (TXT without quotes)."""
    values: list[str] = []
    wanted = dns.rdatatype.from_text(rdtype)
    for rrset in answer.answer:
        if rrset.rdtype == wanted and rrset.name.to_text() == qname:
            values += [rd.to_text().strip('"') for rd in rrset]
    return sorted(values)


async def resolve(
    host: str, port: int, qname: str, rdtype: str, timeout: float
) -> list[str] | None:
    """What a (recursive) resolver answers for qname/rdtype now; None when it does not answer."""
    name = qname if qname.endswith(".") else qname + "."
    try:
        answer = await dns.asyncquery.udp(
            dns.message.make_query(name, rdtype), host, port=port, timeout=timeout
        )
    except (dns.exception.DNSException, OSError):
        return None
    return rrset_values(answer, name, rdtype)
