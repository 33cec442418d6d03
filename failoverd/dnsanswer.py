"""Reading values out of a DNS answer, shared by the dns probe and the RFC 2136 switch."""

from __future__ import annotations

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
