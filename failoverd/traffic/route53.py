"""Route 53: UPSERT the record to the side's values, wait until INSYNC, read it back.

Least IAM: route53:ChangeResourceRecordSets, route53:ListResourceRecordSets on the hosted zone,
route53:GetChange on change/*. Throttling (Route 53 allows about five requests per second per
account) and 5xx are transient; AccessDenied and InvalidChangeBatch block with AWS's message.
"""

from __future__ import annotations

import asyncio
from typing import Any

from failoverd.clients import aws
from failoverd.config import Route53Traffic
from failoverd.kit.errors import TransientError
from failoverd.machine import Side
from failoverd.traffic.base import register, side_of


def _quoted(rtype: str, value: str) -> str:
    return f'"{value}"' if rtype == "TXT" and not value.startswith('"') else value


class Route53Switch:
    def __init__(self, spec: Route53Traffic) -> None:
        self.spec = spec
        self.name = spec.name if spec.name.endswith(".") else spec.name + "."
        self.client = aws.client("route53", spec.region, spec.endpoint_url)
        self.switch_timeout = spec.insync_timeout + 15.0

    def describe(self, side: Side) -> str:
        values = self.spec.values(side)
        return f"route53 {self.spec.hosted_zone_id} {self.name} {self.spec.type} {','.join(values)}"

    async def switch(self, side: Side) -> None:
        values = self.spec.values(side)
        change = {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": self.name,
                "Type": self.spec.type,
                "TTL": self.spec.ttl,
                "ResourceRecords": [{"Value": _quoted(self.spec.type, v)} for v in values],
            },
        }
        answer: dict[str, Any] = await aws.call(
            "route53 ChangeResourceRecordSets",
            self.client.change_resource_record_sets,
            HostedZoneId=self.spec.hosted_zone_id,
            ChangeBatch={"Comment": f"failoverd: traffic to the {side}", "Changes": [change]},
        )
        await self._wait_insync(answer["ChangeInfo"]["Id"], answer["ChangeInfo"]["Status"])

    async def _wait_insync(self, change_id: str, status: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spec.insync_timeout
        while status != "INSYNC":
            if loop.time() >= deadline:
                raise TransientError(
                    f"route53 change {change_id} still {status} after {self.spec.insync_timeout:g}s"
                )
            await asyncio.sleep(self.spec.insync_poll)
            got = await aws.call("route53 GetChange", self.client.get_change, Id=change_id)
            status = got["ChangeInfo"]["Status"]

    async def _values(self) -> list[str] | None:
        got = await aws.call(
            "route53 ListResourceRecordSets",
            self.client.list_resource_record_sets,
            HostedZoneId=self.spec.hosted_zone_id,
            StartRecordName=self.name,
            StartRecordType=self.spec.type,
            MaxItems="1",
        )
        for rrset in got.get("ResourceRecordSets", []):
            same_name = rrset["Name"].replace("\\052", "*").lower() == self.name.lower()
            if same_name and rrset["Type"] == self.spec.type:
                return [r["Value"].strip('"') for r in rrset.get("ResourceRecords", [])]
        return None

    async def drill_check(self, token: str) -> str:
        """A TXT `_failoverd-drill.NAME` UPSERTed (INSYNC), read back and deleted."""
        name = f"_failoverd-drill.{self.name}"
        rrset = {
            "Name": name,
            "Type": "TXT",
            "TTL": 5,
            "ResourceRecords": [{"Value": f'"{token}"'}],
        }
        for action in ("UPSERT", "DELETE"):
            got: dict[str, Any] = await aws.call(
                "route53 ChangeResourceRecordSets",
                self.client.change_resource_record_sets,
                HostedZoneId=self.spec.hosted_zone_id,
                ChangeBatch={
                    "Comment": "failoverd drill",
                    "Changes": [{"Action": action, "ResourceRecordSet": rrset}],
                },
            )
            await self._wait_insync(got["ChangeInfo"]["Id"], got["ChangeInfo"]["Status"])
            if action == "UPSERT":
                listed = await aws.call(
                    "route53 ListResourceRecordSets",
                    self.client.list_resource_record_sets,
                    HostedZoneId=self.spec.hosted_zone_id,
                    StartRecordName=name,
                    StartRecordType="TXT",
                    MaxItems="1",
                )
                values = [
                    v["Value"].strip('"')
                    for s in listed.get("ResourceRecordSets", [])
                    if s["Name"].rstrip(".") == name.rstrip(".")
                    for v in s.get("ResourceRecords", [])
                ]
                if values != [token]:
                    raise TransientError(f"route53 has {values} for {name}, not the drill's token")
        return f"{name} TXT written (INSYNC), read back and deleted in {self.spec.hosted_zone_id}"

    async def current(self) -> Side | None:
        values = await self._values()
        return side_of(values, self.spec.primary, self.spec.standby) if values else None

    async def verify(self, side: Side) -> None:
        values = await self._values()
        if values is None or side_of(values, self.spec.primary, self.spec.standby) != side:
            raise TransientError(
                f"route53 has {self.name} {self.spec.type} {values or 'absent'}, not the {side}"
            )


@register("route53")
def build(spec: Route53Traffic) -> Route53Switch:
    return Route53Switch(spec)
