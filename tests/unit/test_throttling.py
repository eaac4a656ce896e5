"""Throttling that outlasts botocore's retries: the image is not a failure, and under a quota the
message goes back to its queue as a delayed copy instead of counting toward maxReceiveCount.

Rekognition's answers and SQS's requests are pinned with botocore's Stubber (expected_params),
the answers built from the services' documented shapes: ProvisionedThroughputExceededException
is HTTP 400 and ThrottlingException HTTP 500 (Rekognition's developer guide, "Error handling"),
a bare 429 is how botocore surfaces a throttle without a code; SendMessageBatch reports refused
entries under ``Failed`` with ``SenderFault`` (SQS API reference).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.components import Components
from chalicelib.ingest import BatchIngestor
from chalicelib.redelivery import (
    MAX_DELAY_SECONDS,
    MAX_REDELIVERIES,
    REDELIVERIES_ATTRIBUTE,
    ThrottledRedelivery,
    delay_seconds,
)
from chalicelib.rekognition import LabelOptions, RekognitionLabeler, RekognitionThrottled
from chalicelib.settings import Settings
from tests.samples import s3_event_body, sqs_record
from tests.unit.test_ingest import FakeLabeler, FakeStore

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:image-label-search-dev-uploads"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/image-label-search-dev-uploads"


def _client(service: str):
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# -- the labeler --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 500),
        ("429", 429),
    ],
)
def test_throttling_after_the_retries_is_its_own_error(code, status):
    client = _client("rekognition")
    labeler = RekognitionLabeler(client, LabelOptions(max_labels=25, min_confidence=70.0))
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "detect_labels",
            service_error_code=code,
            http_status_code=status,
            expected_params={
                "Image": {"S3Object": {"Bucket": "photos", "Name": "cat.jpg"}},
                "MaxLabels": 25,
                "MinConfidence": 70.0,
            },
        )
        with pytest.raises(RekognitionThrottled) as raised:
            labeler.analyze("photos", "cat.jpg")
    assert code in raised.value.reason


def test_other_server_errors_are_not_throttling():
    client = _client("rekognition")
    labeler = RekognitionLabeler(client, LabelOptions(max_labels=25, min_confidence=70.0))
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "detect_labels", service_error_code="InternalServerError", http_status_code=500
        )
        with pytest.raises(Exception) as raised:
            labeler.analyze("photos", "cat.jpg")
    assert not isinstance(raised.value, RekognitionThrottled)


# -- the ingestor and the redelivery ------------------------------------------------------------


def _throttled_labeler(*keys):
    return FakeLabeler({key: RekognitionThrottled("Rekognition throttled") for key in keys})


def _ingestor(labeler, redelivery=None):
    return BatchIngestor(
        labeler=labeler,
        store=FakeStore(),
        executor=ThreadPoolExecutor(4),
        region="us-east-1",
        logger=logging.getLogger("test-throttling"),
        clock=lambda: datetime(2026, 11, 27, tzinfo=UTC),
        redelivery=redelivery,
    )


def _record(message_id: str, key: str, **attributes):
    record = sqs_record(message_id, s3_event_body("ObjectCreated:Put", key))
    record["messageAttributes"] = attributes
    return record


def _sent_entry(entry_id: str, record: dict, redeliveries: int, delay: int) -> dict:
    return {
        "Id": entry_id,
        "MessageBody": record["body"],
        "DelaySeconds": delay,
        "MessageAttributes": {
            REDELIVERIES_ATTRIBUTE: {"DataType": "Number", "StringValue": str(redeliveries)}
        },
    }


def _expect_queue_url(stubber: Stubber) -> None:
    stubber.add_response(
        "get_queue_url",
        {"QueueUrl": QUEUE_URL},
        expected_params={
            "QueueName": "image-label-search-dev-uploads",
            "QueueOwnerAWSAccountId": "123456789012",
        },
    )


def test_without_a_quota_a_throttled_message_is_retried_in_place_as_before():
    records = [_record("m1", "a.jpg"), _record("m2", "b.jpg")]
    assert _ingestor(_throttled_labeler("b.jpg")).process(records) == ["m2"]


def test_under_a_quota_a_throttled_message_is_sent_back_delayed_and_acknowledged():
    sqs = _client("sqs")
    records = [_record("m1", "a.jpg"), _record("m2", "b.jpg"), _record("m3", "c.jpg")]
    with Stubber(sqs) as stubber:
        _expect_queue_url(stubber)
        stubber.add_response(
            "send_message_batch",
            {"Successful": [], "Failed": []},
            expected_params={
                "QueueUrl": QUEUE_URL,
                # The first copy: 2 s doubled from nothing, the middle of 1-2 s with jitter 0.5.
                "Entries": [
                    _sent_entry("0", records[1], 1, 2),
                    _sent_entry("1", records[2], 1, 2),
                ],
            },
        )
        redelivery = ThrottledRedelivery(sqs, jitter=lambda: 0.5)
        ingestor = _ingestor(_throttled_labeler("b.jpg", "c.jpg"), redelivery)
        assert ingestor.process(records) == []
    stubber.assert_no_pending_responses()


def test_a_copy_sqs_refuses_leaves_its_message_to_be_retried_in_place():
    sqs = _client("sqs")
    records = [_record("m1", "a.jpg"), _record("m2", "b.jpg")]
    with Stubber(sqs) as stubber:
        _expect_queue_url(stubber)
        stubber.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "copy-1", "MD5OfMessageBody": "0" * 32}],
                "Failed": [
                    {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "x"}
                ],
            },
        )
        ingestor = _ingestor(_throttled_labeler("a.jpg", "b.jpg"), ThrottledRedelivery(sqs))
        assert ingestor.process(records) == ["m2"]


def test_when_sqs_cannot_be_reached_every_throttled_message_is_retried_in_place():
    sqs = _client("sqs")
    records = [_record("m1", "a.jpg"), _record("m2", "b.jpg")]
    with Stubber(sqs) as stubber:
        _expect_queue_url(stubber)
        stubber.add_client_error(
            "send_message_batch", service_error_code="AccessDenied", http_status_code=403
        )
        ingestor = _ingestor(_throttled_labeler("a.jpg", "b.jpg"), ThrottledRedelivery(sqs))
        assert ingestor.process(records) == ["m1", "m2"]


def test_a_message_that_also_failed_otherwise_is_not_sent_back():
    two_events = sqs_record(
        "m1",
        json.dumps(
            {
                "Records": [
                    *json.loads(s3_event_body("ObjectCreated:Put", "a.jpg"))["Records"],
                    *json.loads(s3_event_body("ObjectCreated:Put", "b.jpg"))["Records"],
                ]
            }
        ),
    )
    labeler = FakeLabeler(
        {"a.jpg": RekognitionThrottled("throttled"), "b.jpg": RuntimeError("access denied")}
    )
    sqs = _client("sqs")
    with Stubber(sqs):  # no call expected: any request would raise
        assert _ingestor(labeler, ThrottledRedelivery(sqs)).process([two_events]) == ["m1"]


def test_a_copy_sent_back_again_waits_twice_as_long_and_keeps_other_attributes():
    sqs = _client("sqs")
    record = _record(
        "m1",
        "a.jpg",
        **{
            REDELIVERIES_ATTRIBUTE: {"stringValue": "3", "dataType": "Number"},
            "origin": {"stringValue": "backfill", "dataType": "String"},
        },
    )
    with Stubber(sqs) as stubber:
        _expect_queue_url(stubber)
        stubber.add_response(
            "send_message_batch",
            {"Successful": [], "Failed": []},
            expected_params={
                "QueueUrl": QUEUE_URL,
                "Entries": [
                    {
                        "Id": "0",
                        "MessageBody": record["body"],
                        "DelaySeconds": 16,  # the 4th copy: 2 * 2**3 s, jitter at its top
                        "MessageAttributes": {
                            "origin": {"DataType": "String", "StringValue": "backfill"},
                            REDELIVERIES_ATTRIBUTE: {"DataType": "Number", "StringValue": "4"},
                        },
                    }
                ],
            },
        )
        assert ThrottledRedelivery(sqs, jitter=lambda: 1.0).redeliver([record]) == []


def test_more_than_ten_go_back_in_batches_of_ten_and_the_queue_url_is_asked_once():
    sqs = _client("sqs")
    records = [_record(f"m{n}", f"{n}.jpg") for n in range(12)]
    with Stubber(sqs) as stubber:
        _expect_queue_url(stubber)
        for chunk in (records[:10], records[10:]):
            stubber.add_response(
                "send_message_batch",
                {"Successful": [], "Failed": []},
                expected_params={
                    "QueueUrl": QUEUE_URL,
                    "Entries": [
                        _sent_entry(str(n), record, 1, 1) for n, record in enumerate(chunk)
                    ],
                },
            )
        assert ThrottledRedelivery(sqs, jitter=lambda: 0.0).redeliver(records) == []
    stubber.assert_no_pending_responses()


def test_delays_double_up_to_sqs_maximum():
    assert [delay_seconds(n, 1.0) for n in range(1, 12)] == [
        *(2, 4, 8, 16, 32, 64, 128, 256, 512),
        MAX_DELAY_SECONDS,
        MAX_DELAY_SECONDS,
    ]
    assert [delay_seconds(n, 0.0) for n in (1, 2, 10)] == [1, 2, 450]


def test_after_the_last_redelivery_a_throttled_message_is_retried_in_place():
    """So that a throttle that never ends reaches the dead-letter queue and its alarm."""
    sqs = _client("sqs")
    last = _record(
        "m1",
        "a.jpg",
        **{REDELIVERIES_ATTRIBUTE: {"stringValue": str(MAX_REDELIVERIES), "dataType": "Number"}},
    )
    one_before = _record(
        "m2",
        "b.jpg",
        **{
            REDELIVERIES_ATTRIBUTE: {
                "stringValue": str(MAX_REDELIVERIES - 1),
                "dataType": "Number",
            }
        },
    )
    with Stubber(sqs) as stubber:
        _expect_queue_url(stubber)
        stubber.add_response(
            "send_message_batch",
            {"Successful": [], "Failed": []},
            expected_params={
                "QueueUrl": QUEUE_URL,
                "Entries": [
                    _sent_entry("0", one_before, MAX_REDELIVERIES, MAX_DELAY_SECONDS),
                ],
            },
        )
        ingestor = _ingestor(
            _throttled_labeler("a.jpg", "b.jpg"), ThrottledRedelivery(sqs, jitter=lambda: 1.0)
        )
        assert ingestor.process([last, one_before]) == ["m1"]
    stubber.assert_no_pending_responses()


def test_the_last_copy_comes_about_an_hour_after_the_first_throttle():
    waits = [delay_seconds(n, 1.0) for n in range(1, MAX_REDELIVERIES + 1)]
    assert sum(waits) == 3722  # the constant's comment: 31-62 min with jitter
    assert sum(delay_seconds(n, 0.0) for n in range(1, MAX_REDELIVERIES + 1)) == 1861


@pytest.mark.parametrize(
    ("environ", "wired"),
    [
        ({"REKOGNITION_TPS": "25"}, True),
        ({"REKOGNITION_TPS": "25", "PARTIAL_BATCH_RESPONSE": "false"}, False),
        ({}, False),
    ],
)
def test_copies_are_sent_only_under_a_quota_with_partial_batch_responses(environ, wired):
    """Without partial responses app.py raises for any failure and Lambda retries the whole
    batch, the originals of copies already sent too."""
    components = Components(lambda: Settings.from_environ({"AWS_REGION": "us-east-1", **environ}))
    assert isinstance(components.redelivery, ThrottledRedelivery) is wired
