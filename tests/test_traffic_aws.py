"""Route 53 and ELBv2 switches against moto's in-process mock; AWS errors classified."""

from __future__ import annotations

import botocore.exceptions
import pytest

from failoverd import config
from failoverd.clients import aws
from failoverd.kit.errors import PermanentError, TransientError
from failoverd.traffic import build
from tests import lab
from tests.lab import aws as lab_aws


def route53_switch(zone_id: str, **extra):
    spec = {
        "route53": {
            "hosted_zone_id": zone_id,
            "name": lab.RECORD,
            "type": "A",
            "ttl": 30,
            "primary": [lab.PRIMARY_IP],
            "standby": [lab.STANDBY_IP],
            **extra,
        }
    }
    return build(config.TrafficSpec.model_validate(spec))


async def test_route53_switch_upserts_waits_insync_and_reads_back(mocked_aws):
    zone = lab_aws.make_zone(None)
    sw = route53_switch(zone)
    assert await sw.current() == "primary"
    await sw.switch("standby")
    await sw.switch("standby")
    assert lab_aws.record_values(None, zone) == [lab.STANDBY_IP]
    assert await sw.current() == "standby"
    await sw.verify("standby")
    with pytest.raises(TransientError, match="not the primary"):
        await sw.verify("primary")


async def test_route53_current_is_none_for_an_absent_or_foreign_record(mocked_aws):
    r53 = lab_aws.aws("route53", None)
    zone = r53.create_hosted_zone(Name="example.test.", CallerReference="z")["HostedZone"]["Id"]
    sw = route53_switch(zone)
    assert await sw.current() is None
    lab_aws.set_record(None, zone, "203.0.113.9")
    assert await sw.current() is None


async def test_route53_unknown_zone_is_permanent(mocked_aws):
    with pytest.raises(PermanentError, match="NoSuchHostedZone"):
        await route53_switch("Z0000000NOTTHERE").switch("standby")


async def test_elbv2_weights_move_to_the_target_side_and_back(mocked_aws):
    alb = lab_aws.make_alb(None)
    spec = {
        "elbv2": {
            "listener_arn": alb.listener_arn,
            "primary_target_group": alb.primary_tg,
            "standby_target_group": alb.standby_tg,
            "region": lab_aws.REGION,
        }
    }
    sw = build(config.TrafficSpec.model_validate(spec))
    assert await sw.current() == "primary"
    await sw.switch("standby")
    assert lab_aws.alb_weights(None, alb) == (0, 100)
    await sw.verify("standby")
    await sw.switch("primary")
    assert lab_aws.alb_weights(None, alb) == (100, 0)
    assert await sw.current() == "primary"


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "ChangeResourceRecordSets")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("Throttling", 400, TransientError),
        ("PriorRequestNotComplete", 400, TransientError),
        ("ServiceUnavailable", 503, TransientError),
        ("SomethingNew", 500, TransientError),
        ("AccessDenied", 403, PermanentError),
        ("InvalidChangeBatch", 400, PermanentError),
    ],
)
def test_aws_errors_are_classified_with_awss_message(code, status, kind):
    err = aws.classify(client_error(code, status), "route53 ChangeResourceRecordSets")
    assert isinstance(err, kind)
    assert str(err) == f"route53 ChangeResourceRecordSets: {code}: {code} happened"


def test_missing_credentials_are_permanent():
    err = aws.classify(botocore.exceptions.NoCredentialsError(), "route53")
    assert isinstance(err, PermanentError) and "credentials" in str(err)
