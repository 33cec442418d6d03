"""What the AWS switches share: one way to build a client and one way to read its errors.

boto3 is synchronous, so every call runs in a worker thread (asyncio.to_thread). botocore's own
retries are turned off: the plan retries with tenacity (backoff with jitter, bounded, visible
as `attempts` in the status), so there is one retry layer, not two multiplied together.
Region, endpoint and credentials follow boto3's usual chain (profile, environment, instance
role); nothing of them is stored in the config file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from failoverd.errors import ActionError, PermanentError, TransientError

T = TypeVar("T")

# Codes that mean "slow down" or "our side broke": retrying is right.
_TRANSIENT_CODES = {
    "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
    "PriorRequestNotComplete", "ServiceUnavailable", "InternalFailure", "InternalError",
    "RequestTimeout", "RequestTimeoutException", "SlowDown",
}  # fmt: skip


def client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    """A boto3 client with botocore retries off and timeouts short enough for a plan step."""
    cfg = botocore.config.Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10
    )
    session: Any = boto3.session.Session()  # a session per client: sessions are not thread-safe
    return session.client(
        service, region_name=region or "us-east-1", endpoint_url=endpoint_url, config=cfg
    )


def classify(e: Exception, what: str) -> ActionError:
    """AWS's answer as a TransientError (retry) or a PermanentError (block), in AWS's words."""
    if isinstance(e, botocore.exceptions.ClientError):
        err = e.response.get("Error", {})
        code, message = err.get("Code", "Unknown"), err.get("Message", "")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"{what}: {code}: {message}".rstrip(": ")
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return TransientError(text)
        return PermanentError(text)
    if isinstance(
        e, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return PermanentError(f"{what}: no usable AWS credentials ({e})")
    if isinstance(e, botocore.exceptions.BotoCoreError | OSError):
        return TransientError(f"{what}: {e}")
    return TransientError(f"{what}: {type(e).__name__}: {e}")


async def call(what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one boto3 call in a thread; AWS errors come out classified."""
    try:
        return await asyncio.to_thread(fn, **kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as e:
        raise classify(e, what) from None
