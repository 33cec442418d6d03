"""RFC 2136 dynamic DNS: a TSIG-signed UPDATE that replaces the record's RRset.

The answer is read back from the same authoritative server, so `verify` proves what resolvers
will be served (modulo their caches: keep the TTL short). NOTAUTH / REFUSED / NOTZONE mean the
key or the server's policy is wrong and are never retried.
"""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update

from failoverd.clients.dns import rrset_values
from failoverd.config import Rfc2136Traffic, TsigConfig
from failoverd.kit.errors import PermanentError, TransientError
from failoverd.machine import Side
from failoverd.traffic.base import register, side_of

_PERMANENT = {
    dns.rcode.NOTAUTH,
    dns.rcode.REFUSED,
    dns.rcode.NOTZONE,
    dns.rcode.FORMERR,
    dns.rcode.YXRRSET,
}


def tsig_key(tsig: TsigConfig) -> dns.tsig.Key:
    """A TSIG key from a raw base64 secret or from a BIND key file (tsig-keygen's output)."""
    return dns.tsig.Key(tsig.name, tsig.key_secret(), tsig.algorithm)


class Rfc2136Switch:
    def __init__(self, spec: Rfc2136Traffic) -> None:
        self.spec = spec
        self.host, self.port = spec.host_port
        self.zone = dns.name.from_text(spec.zone)
        self.name = dns.name.from_text(spec.name)
        self.key = tsig_key(spec.tsig) if spec.tsig else None
        self.switch_timeout = spec.timeout

    def describe(self, side: Side) -> str:
        values = self.spec.values(side)
        return f"{self.spec.name} {self.spec.type} {','.join(values)}"

    async def _send(self, msg: dns.message.Message) -> dns.message.Message:
        try:
            return await dns.asyncquery.tcp(
                msg, self.host, port=self.port, timeout=self.spec.timeout
            )
        except dns.exception.Timeout:
            raise TransientError(
                f"{self.spec.server}: no answer within {self.spec.timeout:g}s"
            ) from None
        except dns.tsig.PeerError as e:
            raise PermanentError(f"{self.spec.server}: TSIG rejected: {e}") from None
        except (OSError, EOFError, dns.exception.DNSException) as e:
            raise TransientError(f"{self.spec.server}: {type(e).__name__}: {e}") from None

    async def switch(self, side: Side) -> None:
        values = self.spec.values(side)
        update = dns.update.UpdateMessage(self.zone, keyring=self.key)
        update.replace(self.name, self.spec.ttl, self.spec.type, *values)
        answer = await self._send(update)
        rcode = answer.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        text = f"{self.spec.server} answered {dns.rcode.to_text(rcode)} to the UPDATE of {self.spec.name}"
        raise (PermanentError if rcode in _PERMANENT else TransientError)(text)

    async def _values(self) -> list[str]:
        answer = await self._send(dns.message.make_query(self.name, self.spec.type))
        if answer.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise TransientError(f"{self.spec.server} answered {dns.rcode.to_text(answer.rcode())}")
        return rrset_values(answer, self.name.to_text(), self.spec.type)

    async def drill_check(self, token: str) -> str:
        """A TXT `_failoverd-drill.NAME` written, read back and deleted with the same key."""
        name = dns.name.from_text("_failoverd-drill", self.name)
        add = dns.update.UpdateMessage(self.zone, keyring=self.key)
        add.replace(name, 5, "TXT", f'"{token}"')
        await self._expect_noerror(add, f"the UPDATE of {name}")
        answer = await self._send(dns.message.make_query(name, "TXT"))
        values = rrset_values(answer, name.to_text(), "TXT")
        delete = dns.update.UpdateMessage(self.zone, keyring=self.key)
        delete.delete(name)
        await self._expect_noerror(delete, f"the delete of {name}")
        if values != [token]:
            raise TransientError(
                f"{self.spec.server} answers {values} for {name}, not the drill's token"
            )
        return f"{name} TXT written, read back and deleted on {self.spec.server}"

    async def _expect_noerror(self, msg: dns.message.Message, what: str) -> None:
        rcode = (await self._send(msg)).rcode()
        if rcode != dns.rcode.NOERROR:
            text = f"{self.spec.server} answered {dns.rcode.to_text(rcode)} to {what}"
            raise (PermanentError if rcode in _PERMANENT else TransientError)(text)

    async def current(self) -> Side | None:
        return side_of(await self._values(), self.spec.primary, self.spec.standby)

    async def verify(self, side: Side) -> None:
        values = await self._values()
        if side_of(values, self.spec.primary, self.spec.standby) != side:
            raise TransientError(
                f"{self.spec.server} answers {values or 'nothing'} for {self.spec.name}, not the {side}"
            )


@register("rfc2136")
def build(spec: Rfc2136Traffic) -> Rfc2136Switch:
    return Rfc2136Switch(spec)
