"""The local Rekognition's TPS quota: a token bucket per operation, refused on the wire as
Rekognition refuses (status, ``__type``/``Code``/``Message``/``Logref``, botocore's error)."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localdev.rekognition.quota import TpsQuota
from localdev.rekognition.server import LocalRekognition


class FakeClock:
    def __init__(self):
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_one_second_of_burst_then_the_rate_per_operation():
    clock = FakeClock()
    quota = TpsQuota(3, clock=clock)
    for _ in range(3):
        quota.admit("DetectLabels")
    with pytest.raises(Exception) as raised:
        quota.admit("DetectLabels")
    assert (raised.value.code, raised.value.status) == (
        "ProvisionedThroughputExceededException",
        400,
    )
    quota.admit("DetectFaces")  # another operation has its own quota
    clock.now += 1 / 3
    quota.admit("DetectLabels")
    assert quota.admitted == {"DetectLabels": 4, "DetectFaces": 1}
    assert quota.throttled == {"DetectLabels": 1}


def test_a_quota_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        TpsQuota(0)


@pytest.fixture
def throttling_endpoint():
    """An endpoint whose one token per second is spent: every call now is over the quota."""
    clock = FakeClock()
    quota = TpsQuota(1, clock=clock)
    quota.admit("DetectLabels")
    with LocalRekognition(s3_client=object(), quota=quota) as endpoint:
        yield endpoint, quota, clock


def _raw_call(url: str, operation: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=b"{}",
        method="POST",
        headers={
            "X-Amz-Target": f"RekognitionService.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=y",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_over_the_quota_the_answer_is_rekognitions_on_the_wire(throttling_endpoint):
    endpoint, quota, _ = throttling_endpoint
    status, body = _raw_call(endpoint.url, "DetectLabels")
    assert status == 400
    assert body["__type"] == body["Code"] == "ProvisionedThroughputExceededException"
    assert body["Message"] == "Provisioned rate exceeded"
    assert body["Logref"]
    assert quota.throttled["DetectLabels"] == 1


def test_botocore_raises_and_retries_it_as_throttling(throttling_endpoint):
    endpoint, quota, _ = throttling_endpoint
    client = boto3.client(
        "rekognition",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )
    with pytest.raises(ClientError) as raised:
        client.detect_labels(Image={"S3Object": {"Bucket": "photos", "Name": "cat.jpg"}})
    error = raised.value.response
    assert error["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RetryAttempts"] == 1  # botocore retried it once
    assert quota.throttled["DetectLabels"] == 2


def test_throttling_exception_can_be_answered_instead():
    quota = TpsQuota(1, answer="ThrottlingException", clock=FakeClock())
    quota.admit("DetectLabels")
    with LocalRekognition(s3_client=object(), quota=quota) as endpoint:
        status, body = _raw_call(endpoint.url, "DetectLabels")
    assert status == 500
    assert body["__type"] == body["Code"] == "ThrottlingException"
