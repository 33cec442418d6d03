"""AWS in the lab: moto's server on 127.0.0.1 and a proxy in front of it that injects faults.

The proxy answers chosen requests with AWS's own error documents (Throttling, AccessDenied...)
a given number of times and forwards everything else to moto, so botocore parses real AWS
errors and failoverd's retry and blocking paths run as they would against AWS.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import boto3
from aiohttp import web

from tests.lab import LOOPBACK, PRIMARY_IP, RECORD, STANDBY_IP, free_port

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's HTTP server on a free loopback port; yields its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.stop()


def aws(service: str, endpoint_url: str | None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def make_zone(endpoint_url: str | None, zone: str = "example.test.") -> str:
    """A hosted zone with RECORD pointing at the primary; returns the zone id."""
    r53 = aws("route53", endpoint_url)
    zone_id: str = r53.create_hosted_zone(Name=zone, CallerReference=os.urandom(8).hex())[
        "HostedZone"
    ]["Id"]
    set_record(endpoint_url, zone_id, PRIMARY_IP)
    return zone_id


def set_record(endpoint_url: str | None, zone_id: str, *values: str) -> None:
    aws("route53", endpoint_url).change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": RECORD,
                        "Type": "A",
                        "TTL": 30,
                        "ResourceRecords": [{"Value": v} for v in values],
                    },
                }
            ]
        },
    )


def record_values(endpoint_url: str | None, zone_id: str) -> list[str]:
    """What Route 53 (moto) holds for RECORD, read back through its API."""
    got = aws("route53", endpoint_url).list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=RECORD, StartRecordType="A", MaxItems="1"
    )
    return sorted(
        r["Value"]
        for rr in got["ResourceRecordSets"]
        if rr["Name"] == RECORD
        for r in rr["ResourceRecords"]
    )


@dataclass(frozen=True)
class Alb:
    listener_arn: str
    primary_tg: str
    standby_tg: str


def make_alb(endpoint_url: str | None) -> Alb:
    """An ALB whose listener forwards 100/0 to a primary and a standby target group."""
    ec2, elb = aws("ec2", endpoint_url), aws("elbv2", endpoint_url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name=f"web-{os.urandom(3).hex()}", Subnets=subnets)[
        "LoadBalancers"
    ][0]
    tgs = [
        elb.create_target_group(
            Name=f"{side}-{os.urandom(3).hex()}", Protocol="HTTP", Port=80, VpcId=vpc
        )["TargetGroups"][0]["TargetGroupArn"]
        for side in ("primary", "standby")
    ]
    forward = {
        "TargetGroups": [
            {"TargetGroupArn": tgs[0], "Weight": 100},
            {"TargetGroupArn": tgs[1], "Weight": 0},
        ]
    }
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": forward}],
    )["Listeners"][0]
    return Alb(listener["ListenerArn"], tgs[0], tgs[1])


def alb_weights(endpoint_url: str | None, alb: Alb) -> tuple[int, int]:
    """(primary weight, standby weight) of the listener, read back through the API."""
    got = aws("elbv2", endpoint_url).describe_listeners(ListenerArns=[alb.listener_arn])
    groups = got["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    w = {g["TargetGroupArn"]: g["Weight"] for g in groups}
    return w[alb.primary_tg], w[alb.standby_tg]


# --------------------------------------------------------------------------- fault proxy

_ERROR = (
    '<?xml version="1.0"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>'
    "<Message>{message}</Message></Error><RequestId>failoverd-lab</RequestId></ErrorResponse>"
)


@dataclass
class Fault:
    match: str  # a substring of "METHOD PATH BODY"
    code: str
    status: int
    message: str
    times: int  # how many matching requests get the fault; -1 for all
    hits: int = 0


@dataclass
class FaultProxy:
    """An HTTP proxy on 127.0.0.1 to moto that answers matching requests with AWS errors."""

    target: str
    port: int = field(default_factory=free_port)
    faults: list[Fault] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def inject(
        self, match: str, code: str, *, status: int = 400, message: str = "", times: int = -1
    ) -> Fault:
        fault = Fault(match, code, status, message or code, times)
        self.faults.append(fault)
        return fault

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        text = f"{request.method} {request.path_qs} {body.decode(errors='replace')}"
        for f in self.faults:
            if f.match in text and (f.times < 0 or f.hits < f.times):
                f.hits += 1
                xml = _ERROR.format(code=f.code, message=f.message)
                return web.Response(status=f.status, body=xml.encode(), content_type="text/xml")
        assert self._session is not None
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with self._session.request(
            request.method, self.target + request.path_qs, headers=headers, data=body
        ) as r:
            payload = await r.read()
            keep = {
                k: v
                for k, v in r.headers.items()
                if k.lower() in ("content-type", "x-amzn-requestid")
            }
            return web.Response(status=r.status, body=payload, headers=keep)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


__all__ = ["CREDENTIALS", "STANDBY_IP", "Alb", "FaultProxy", "make_alb", "make_zone", "moto_server"]
