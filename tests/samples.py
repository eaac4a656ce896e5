"""Realistic Lambda SQS records carrying S3 event notifications, shared by the tests."""

import json
from urllib.parse import quote_plus


def s3_record(
    event_name,
    key,
    *,
    bucket="photos",
    size=1024,
    sequencer="0055AED6DCD90281E5",
    event_time="2026-11-27T20:00:00.000Z",
    version_id=None,
):
    """One record as S3 writes it: the key is URL-encoded, deletes carry no size or eTag."""
    obj = {"key": quote_plus(key), "sequencer": sequencer}
    if event_name.startswith("ObjectCreated"):
        obj.update(size=size, eTag="d41d8cd98f00b204e9800998ecf8427e")
    if version_id:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURI"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "image-uploads",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_event_body(event_name, key, **fields):
    return json.dumps({"Records": [s3_record(event_name, key, **fields)]})


def sqs_record(message_id, body, receive_count=1):
    """A record as Lambda's SQS event source delivers it (distinct ids, unlike chalice's helper)."""
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795809600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795809600001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:image-label-search-dev-uploads",
        "awsRegion": "us-east-1",
    }


def sqs_event(*records):
    return {"Records": list(records)}
