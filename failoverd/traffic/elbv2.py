"""AWS ELBv2 (ALB): the listener's default forward action weights 100/0 or 0/100.

The listener forwards to two target groups, one per side; a switch moves all the weight to one
of them with ModifyListener and verifies it with DescribeListeners. Least IAM:
elasticloadbalancing:ModifyListener and elasticloadbalancing:DescribeListeners on the listener.
"""

from __future__ import annotations

from typing import Any

from failoverd.clients import aws
from failoverd.config import Elbv2Traffic
from failoverd.kit.errors import PermanentError, TransientError
from failoverd.machine import SIDES, Side
from failoverd.traffic.base import register


class Elbv2Switch:
    def __init__(self, spec: Elbv2Traffic) -> None:
        self.spec = spec
        self.client = aws.client("elbv2", spec.region, spec.endpoint_url)
        self.switch_timeout = 15.0

    def describe(self, side: Side) -> str:
        return f"elbv2 listener {self.spec.listener_arn} -> 100% {self.spec.target_group(side)}"

    async def switch(self, side: Side) -> None:
        groups = [
            {"TargetGroupArn": self.spec.target_group(s), "Weight": 100 if s == side else 0}
            for s in SIDES
        ]
        await aws.call(
            "elbv2 ModifyListener",
            self.client.modify_listener,
            ListenerArn=self.spec.listener_arn,
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
        )

    async def weights(self) -> dict[str, int]:
        """Target group ARN -> weight of the listener's default forward action."""
        got: dict[str, Any] = await aws.call(
            "elbv2 DescribeListeners",
            self.client.describe_listeners,
            ListenerArns=[self.spec.listener_arn],
        )
        listeners = got.get("Listeners", [])
        if not listeners:
            raise PermanentError(f"elbv2: listener {self.spec.listener_arn} not found")
        for action in listeners[0].get("DefaultActions", []):
            if action.get("Type") == "forward":
                groups = action.get("ForwardConfig", {}).get("TargetGroups")
                if groups:
                    return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
                if action.get("TargetGroupArn"):
                    return {action["TargetGroupArn"]: 1}
        return {}

    async def drill_check(self, token: str) -> str:
        """The listener read with the switch's credentials; no weight is changed."""
        weights = await self.weights()
        missing = [
            g
            for g in (self.spec.primary_target_group, self.spec.standby_target_group)
            if g not in weights
        ]
        if missing:
            raise PermanentError(f"elbv2: the listener does not forward to {missing}")
        return f"listener {self.spec.listener_arn} readable, forwards to both target groups"

    async def current(self) -> Side | None:
        w = await self.weights()
        p, s = w.get(self.spec.primary_target_group, 0), w.get(self.spec.standby_target_group, 0)
        others = sum(
            v
            for k, v in w.items()
            if k not in (self.spec.primary_target_group, self.spec.standby_target_group)
        )
        if others:
            return None
        if p > 0 and s == 0:
            return "primary"
        if s > 0 and p == 0:
            return "standby"
        return None

    async def verify(self, side: Side) -> None:
        if await self.current() != side:
            raise TransientError(
                f"elbv2 listener weights are {await self.weights()}, not all on the {side}"
            )


@register("elbv2")
def build(spec: Elbv2Traffic) -> Elbv2Switch:
    return Elbv2Switch(spec)
