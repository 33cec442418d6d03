"""What the AWS switches share: one way to build a client and one way to read its errors.

boto3 is synchronous, so every call runs on this module's own bounded thread pool, never on
asyncio's default one (which probes' DNS lookups use: hung AWS calls must never make a healthy
probe time out), and every call is bounded by a timeout. botocore's own retries are turned off: the plan retries with tenacity (backoff with jitter, bounded, visible
as `attempts` in the status), so there is one retry layer, not two multiplied together.
Region, endpoint and credentials follow boto3's usual chain (profile, environment, instance
role); nothing of them is stored in the config file.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from failoverd.kit.errors import ActionError, PermanentError, TransientError

T = TypeVar("T")

CALL_TIMEOUT = 30.0  # seconds for one call (botocore: connect 5 s + read 10 s, then margin)
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="failoverd-aws")

# Codes that mean "slow down" or "our side broke": retrying is right.
_TRANSIENT_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
    "SlowDown",
}


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


async def run(
    fn: Callable[..., T], /, *args: Any, timeout: float = CALL_TIMEOUT, **kwargs: Any
) -> T:
    """Run blocking AWS work (a call, reading a body) on the AWS pool, bounded by `timeout`."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise TransientError(f"no answer from AWS within {timeout:g}s") from None


async def call(what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one boto3 call on the AWS pool; AWS errors and time-outs come out classified."""
    try:
        return await run(fn, **kwargs)
    except TransientError as e:
        raise TransientError(f"{what}: {e}") from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as e:
        raise classify(e, what) from None
