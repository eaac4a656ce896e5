"""One line for each error a command line user can get, naming what to check.

botocore's and urllib's own messages are accurate but say nothing about which option or
variable was wrong; a traceback says even less to someone who only ran a command.
"""

from __future__ import annotations

import json

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

CREDENTIALS_HINT = (
    "for the local stack export the AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
    "AWS_ENDPOINT_URL that `make run` prints; for AWS set AWS_PROFILE or run `aws configure`"
)
BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "UnrecognizedClientException"}
NO_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


class CliError(Exception):
    """An error whose message is the whole story: printed as one line, no traceback."""


def aws_error_line(error: Exception, args=None) -> str:
    bucket = getattr(args, "bucket", None)
    queue_url = getattr(args, "queue_url", None)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return f"no AWS credentials found: {CREDENTIALS_HINT}"
    if isinstance(error, NoRegionError):
        return "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (locally: us-east-1)"
    if isinstance(error, EndpointConnectionError):
        return (
            f"cannot reach {error.kwargs.get('endpoint_url')}: is `make run` still running? "
            "Check AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SQS)"
        )
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in ("NoSuchBucket", "404") and bucket:
            return f"bucket {bucket} does not exist: check --bucket (`make run` prints its bucket)"
        if code in NO_QUEUE:
            return f"queue {queue_url} does not exist: check --queue-url (`make run` prints it)"
        if code in BAD_CREDENTIALS:
            return f"the credentials were refused ({code}): {CREDENTIALS_HINT}"
        if code in ("AccessDenied", "403"):
            where = f" to bucket {bucket}" if bucket else ""
            return f"access denied{where}: check which identity AWS_PROFILE selects and its policy"
        return f"{error.operation_name} failed: {code}: {message}"
    return str(error).splitlines()[0]


def http_error_line(api_url: str, status: int, body: bytes) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    detail = answer.get("error") or answer.get("message") or body.decode(errors="replace")[:200]
    if status == 403 and detail == "Missing Authentication Token":
        return (
            f"{api_url} answered 403 Missing Authentication Token: API Gateway's answer for a "
            "path it has no route for, or an unsigned request. Check --api: a deployed stage's "
            "URL ends in /api; locally there is no /api (http://127.0.0.1:8000)"
        )
    parameter = f" (parameter {answer['parameter']})" if answer.get("parameter") else ""
    return f"search failed ({status}){parameter}: {detail}"


def unreachable_line(api_url: str, error: Exception) -> str:
    reason = getattr(error, "reason", error)
    return f"cannot reach {api_url} ({reason}): check --api; is `make run` still running?"
