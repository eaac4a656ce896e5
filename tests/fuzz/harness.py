"""Invokes the deployed entry points (app.py's handlers) the way Lambda does, on either store.

The API is called with API Gateway's REST proxy event, built by hand rather than through an
HTTP client: a JSON event can carry what no URL can (a lone surrogate, any byte), and skipping
the local HTTP server keeps a case to a few milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

import app as app_module
from chalicelib.components import Components
from chalicelib.settings import Settings
from tests.serving import serving

CURSOR_SECRET = "fuzzing-stage-secret-0123456789abcdef"
UPLOAD_BUCKET = "photos"


def stage_settings(**overrides: Any) -> Settings:
    values = {
        "region": "us-east-1",
        "upload_bucket": UPLOAD_BUCKET,
        "image_bucket": UPLOAD_BUCKET,
        "cursor_secret": CURSOR_SECRET,
        "api_auth": "none",
        "index_replicas": 0,
        "rekognition_concurrency": 4,
        **overrides,
    }
    return Settings(**values)


def stage_components(settings: Settings, **parts: Any) -> Components:
    """The function's own Components, with static credentials (presigning is local) and any
    collaborator replaced (``rekognition=``, ``logger=``)."""
    session = boto3.session.Session(
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="example-secret",
        region_name=settings.region,
    )
    return Components(settings=settings, session=session, **parts)


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str | None
    body: Any  # the decoded JSON, or the raw text when it is not JSON

    @property
    def is_json_object(self) -> bool:
        return self.content_type == "application/json" and isinstance(self.body, dict)


class Lambda:
    """One stage's functions: app.py's handlers with this stage's Components."""

    def __init__(self, components: Components):
        self.components = components

    def http(
        self,
        method: str,
        resource: str,
        path_parameters: Mapping[str, str] | None = None,
        query: Mapping[str, Sequence[str]] | None = None,
        body: str | None = None,
    ) -> Answer:
        path = resource
        for name, value in (path_parameters or {}).items():
            path = path.replace("{" + name + "}", value)
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": {"Content-Type": "application/json", "Accept": "*/*"},
            "multiValueHeaders": {},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
            "multiValueQueryStringParameters": {k: list(v) for k, v in query.items()}
            if query
            else None,
            "pathParameters": dict(path_parameters) if path_parameters else None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": method,
                "path": f"/api{path}",
                "stage": "api",
            },
            "body": body,
            "isBase64Encoded": False,
        }
        response = self._call(lambda: app_module.app(event, _Context("api_handler")))
        headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
        try:
            decoded = json.loads(response["body"])
        except (TypeError, ValueError):
            decoded = response["body"]
        # API Gateway answers a proxy response without a Content-Type as application/json.
        content_type = headers.get("content-type", "application/json")
        return Answer(response["statusCode"], content_type, decoded)

    def index_images(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """app.index_images with a Lambda SQS event of ``records``."""
        event = {"Records": records}
        return self._call(lambda: app_module.index_images(event, _Context("index_images")))

    def _call(self, invoke):
        with serving(self.components):
            return invoke()


class _Context:
    """The few attributes of Lambda's context object that anything reads."""

    def __init__(self, function: str):
        self.function_name = f"image-label-search-fuzz-{function}"
        self.aws_request_id = "fuzz-request"
        self.memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fuzz",
        "awsRegion": "us-east-1",
    }
