"""Unit tests for chalicelib.events: every delivery shape, key decoding, and every way to fail.

Sample payloads follow the field sets of AWS's documented examples (S3 event notification
structure 2.1, s3:TestEvent, SNS notification envelope, S3 EventBridge events), built by the
small helpers below so that each test states only what it varies.
"""

import dataclasses
import json
from typing import Any

import pytest

from chalicelib.events import (
    CREATED,
    MAX_RECORDS_PER_MESSAGE,
    REMOVED,
    MalformedMessage,
    ObjectEvent,
    parse_message,
    read_message,
)

BUCKET = "image-label-search-uploads"
REGION = "eu-west-1"
EVENT_TIME = "2026-11-27T20:36:26.123Z"
# What the parser returns: canonical UTC with microseconds, comparable as a string.
CANONICAL_EVENT_TIME = "2026-11-27T20:36:26.123000Z"
ETAG = "d41d8cd98f00b204e9800998ecf8427e"
VERSION_ID = "096fKKXTRTtl3on89fVO.nfljtsv6qko"
SEQUENCER = "0055AED6DCD90281E5"
TOPIC_ARN = "arn:aws:sns:eu-west-1:111122223333:image-uploads"
SUBSCRIPTION = f"{TOPIC_ARN}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
SNS_ENDPOINT = "https://sns.eu-west-1.amazonaws.com"


# --- sample builders -----------------------------------------------------------------------


def s3_record(
    event_name: str = "ObjectCreated:Put",
    key: str = "photos/dog.jpg",
    *,
    size: int | None = 1024,
    etag: str | None = ETAG,
    version_id: str | None = None,
    sequencer: str | None = SEQUENCER,
) -> dict[str, Any]:
    """One record as S3 sends it (eventVersion 2.1); None omits an object field."""
    obj = {"key": key, "size": size, "eTag": etag, "versionId": version_id, "sequencer": sequencer}
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": EVENT_TIME,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "image-uploads-to-queue",
            "bucket": {
                "name": BUCKET,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{BUCKET}",
            },
            "object": {name: value for name, value in obj.items() if value is not None},
        },
    }


def removed_record(
    event_name: str = "ObjectRemoved:Delete", key: str = "photos/dog.jpg", **fields: Any
) -> dict[str, Any]:
    """A removal record: S3 sends no size and no eTag for these."""
    return s3_record(event_name, key, size=None, etag=None, **fields)


def notification(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def s3_test_event() -> str:
    return json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2026-11-27T20:30:02.245Z",
            "Bucket": BUCKET,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )


def sns_envelope(message: str) -> str:
    """What SQS receives from an SNS subscription without raw message delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "0b2cd1f4-6f5a-5c6e-9d2a-3f1d8c7b6a5e",
            "TopicArn": TOPIC_ARN,
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2026-11-27T20:36:26.456Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjw==",
            "SigningCertURL": f"{SNS_ENDPOINT}/SimpleNotificationService-9c6465fa7f48f5ca.pem",
            "UnsubscribeURL": f"{SNS_ENDPOINT}/?Action=Unsubscribe&SubscriptionArn={SUBSCRIPTION}",
        }
    )


def eventbridge_event(
    detail_type: str = "Object Created",
    key: str = "photos/dog.jpg",
    *,
    source: str = "aws.s3",
    size: int | None = 1024,
    etag: str | None = ETAG,
    version_id: str | None = None,
    reason: str = "PutObject",
    **detail_fields: Any,
) -> str:
    """An S3 event as an EventBridge rule delivers it to SQS; None omits an object field."""
    obj = {
        "key": key,
        "size": size,
        "etag": etag,
        "version-id": version_id,
        "sequencer": "617f08299329d189",
    }
    return json.dumps(
        {
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": detail_type,
            "source": source,
            "account": "111122223333",
            "time": "2026-11-27T20:36:26Z",
            "region": REGION,
            "resources": [f"arn:aws:s3:::{BUCKET}"],
            "detail": {
                "version": "0",
                "bucket": {"name": BUCKET},
                "object": {name: value for name, value in obj.items() if value is not None},
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": "111122223333",
                "source-ip-address": "203.0.113.10",
                "reason": reason,
                **detail_fields,
            },
        }
    )


def only(events: list[ObjectEvent]) -> ObjectEvent:
    assert len(events) == 1, events
    return events[0]


# --- S3 event notifications ----------------------------------------------------------------


def test_single_created_record_becomes_one_event_with_every_field() -> None:
    events = parse_message(notification(s3_record()))

    assert events == [
        ObjectEvent(
            action=CREATED,
            bucket=BUCKET,
            key="photos/dog.jpg",
            event_name="ObjectCreated:Put",
            event_time=CANONICAL_EVENT_TIME,
            region=REGION,
            size=1024,
            etag=ETAG,
            version_id=None,
            sequencer=SEQUENCER,
        )
    ]


def test_multi_record_message_keeps_order_and_skips_unsupported_records() -> None:
    body = notification(
        s3_record("ObjectCreated:Put", "photos/a.jpg"),
        s3_record("ObjectTagging:Put", "photos/b.jpg"),
        removed_record("ObjectRemoved:Delete", "photos/c.jpg"),
        s3_record("ObjectCreated:CompleteMultipartUpload", "photos/d.png", size=52_428_800),
    )

    events = parse_message(body)

    assert [(e.action, e.key, e.event_name, e.size) for e in events] == [
        (CREATED, "photos/a.jpg", "ObjectCreated:Put", 1024),
        (REMOVED, "photos/c.jpg", "ObjectRemoved:Delete", None),
        (CREATED, "photos/d.png", "ObjectCreated:CompleteMultipartUpload", 52_428_800),
    ]


@pytest.mark.parametrize(
    "event_name",
    [
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectCreated:Copy",
        "ObjectCreated:CompleteMultipartUpload",
    ],
)
def test_every_object_created_event_name_is_a_creation(event_name: str) -> None:
    event = only(parse_message(notification(s3_record(event_name))))

    assert (event.action, event.event_name) == (CREATED, event_name)


def test_delete_has_no_size_or_etag() -> None:
    event = only(parse_message(notification(removed_record("ObjectRemoved:Delete"))))

    assert event == ObjectEvent(
        action=REMOVED,
        bucket=BUCKET,
        key="photos/dog.jpg",
        event_name="ObjectRemoved:Delete",
        event_time=CANONICAL_EVENT_TIME,
        region=REGION,
        size=None,
        etag=None,
        version_id=None,
        sequencer=SEQUENCER,
    )


def test_delete_marker_in_versioned_bucket_is_a_removal_carrying_the_marker_version() -> None:
    record = removed_record("ObjectRemoved:DeleteMarkerCreated", version_id="3HL4kqtJlcpXroDTDmJ")

    event = only(parse_message(notification(record)))

    assert (event.action, event.version_id, event.size) == (REMOVED, "3HL4kqtJlcpXroDTDmJ", None)


@pytest.mark.parametrize(
    "event_name", ["LifecycleExpiration:Delete", "LifecycleExpiration:DeleteMarkerCreated"]
)
def test_lifecycle_expiration_is_treated_as_removed(event_name: str) -> None:
    event = only(parse_message(notification(removed_record(event_name, "old/cat.jpg"))))

    assert (event.action, event.key, event.event_name) == (REMOVED, "old/cat.jpg", event_name)


@pytest.mark.parametrize(
    "event_name",
    [
        "ObjectRestore:Post",
        "ObjectRestore:Completed",
        "ObjectRestore:Delete",
        "ObjectTagging:Put",
        "ObjectTagging:Delete",
        "ObjectAcl:Put",
        "LifecycleTransition",
        "IntelligentTiering",
        "ReducedRedundancyLostObject",
        "Replication:OperationFailedReplication",
    ],
)
def test_unsupported_event_names_are_ignored(event_name: str) -> None:
    assert parse_message(notification(s3_record(event_name))) == []


def test_ignored_records_are_not_inspected_for_bucket_or_key() -> None:
    record = s3_record("ObjectTagging:Put")
    del record["s3"]

    assert parse_message(notification(record)) == []


def test_versioned_object_keeps_its_version_id() -> None:
    event = only(parse_message(notification(s3_record(version_id=VERSION_ID))))

    assert event.version_id == VERSION_ID


@pytest.mark.parametrize("version_id", [None, "", "null"], ids=["absent", "empty", "null"])
def test_missing_empty_and_literal_null_version_ids_become_none(version_id: str | None) -> None:
    event = only(parse_message(notification(s3_record(version_id=version_id))))

    assert event.version_id is None


def test_record_without_etag_or_sequencer_gives_none() -> None:
    event = only(parse_message(notification(s3_record(etag=None, sequencer=None))))

    assert (event.etag, event.sequencer, event.size) == (None, None, 1024)


def test_zero_byte_object_keeps_size_zero() -> None:
    event = only(parse_message(notification(s3_record(size=0))))

    assert event.size == 0


# --- key decoding (S3 notifications form-encode keys) --------------------------------------


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("my+photo.jpg", "my photo.jpg"),
        ("a%2Bb.jpg", "a+b.jpg"),
        ("caf%C3%A9.jpg", "café.jpg"),
        ("%E5%86%99%E7%9C%9F.jpg", "写真.jpg"),
        ("photos%2F2024%2Fdog.jpg", "photos/2024/dog.jpg"),
        ("photos/2024/dog.jpg", "photos/2024/dog.jpg"),
        ("summer+2024+%281%29.jpg", "summer 2024 (1).jpg"),
        ("100%25+cotton.jpg", "100% cotton.jpg"),
        ("a+%2B+b.jpg", "a + b.jpg"),
    ],
    ids=[
        "space",
        "plus",
        "latin1-accent",
        "cjk",
        "encoded-slash",
        "plain-slash",
        "parentheses",
        "percent",
        "space-plus-space",
    ],
)
def test_notification_keys_are_fully_decoded(encoded: str, decoded: str) -> None:
    event = only(parse_message(notification(s3_record(key=encoded))))

    assert event.key == decoded


def test_removed_keys_are_decoded_too() -> None:
    event = only(parse_message(notification(removed_record(key="my+photo.jpg"))))

    assert (event.action, event.key) == (REMOVED, "my photo.jpg")


# --- s3:TestEvent and SNS -------------------------------------------------------------------


def test_s3_test_event_is_acknowledged_without_work() -> None:
    assert parse_message(s3_test_event()) == []


def test_sns_wrapped_notification_is_unwrapped() -> None:
    body = sns_envelope(notification(s3_record(key="holiday+snaps%2Fbeach.jpg", version_id="v1")))

    event = only(parse_message(body))

    assert (event.action, event.bucket, event.key, event.version_id) == (
        CREATED,
        BUCKET,
        "holiday snaps/beach.jpg",
        "v1",
    )


def test_sns_wrapped_multi_record_notification_returns_every_event() -> None:
    body = sns_envelope(notification(s3_record(key="a.jpg"), removed_record(key="b.jpg")))

    assert [(e.action, e.key) for e in parse_message(body)] == [
        (CREATED, "a.jpg"),
        (REMOVED, "b.jpg"),
    ]


def test_sns_wrapped_test_event_is_acknowledged_without_work() -> None:
    assert parse_message(sns_envelope(s3_test_event())) == []


def test_sns_wrapped_eventbridge_event_is_unwrapped() -> None:
    # An EventBridge rule may target an SNS topic that fans out to the queue.
    event = only(parse_message(sns_envelope(eventbridge_event())))

    assert (event.action, event.key, event.event_name) == (
        CREATED,
        "photos/dog.jpg",
        "Object Created",
    )


# --- EventBridge ----------------------------------------------------------------------------


def test_eventbridge_object_created_with_version_id() -> None:
    body = eventbridge_event("Object Created", "photos/dog.jpg", version_id=VERSION_ID)

    assert parse_message(body) == [
        ObjectEvent(
            action=CREATED,
            bucket=BUCKET,
            key="photos/dog.jpg",
            event_name="Object Created",
            event_time="2026-11-27T20:36:26.000000Z",
            region=REGION,
            size=1024,
            etag=ETAG,
            version_id=VERSION_ID,
            sequencer="617f08299329d189",
        )
    ]


def test_eventbridge_object_created_in_unversioned_bucket_has_no_version() -> None:
    event = only(parse_message(eventbridge_event("Object Created", version_id=None)))

    assert (event.action, event.version_id, event.size) == (CREATED, None, 1024)


def test_eventbridge_delete_marker_created_is_removed_with_marker_version() -> None:
    body = eventbridge_event(
        "Object Deleted",
        size=None,
        etag=None,
        version_id="1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF",
        reason="DeleteObject",
        **{"deletion-type": "Delete Marker Created"},
    )

    event = only(parse_message(body))

    assert event == ObjectEvent(
        action=REMOVED,
        bucket=BUCKET,
        key="photos/dog.jpg",
        event_name="Object Deleted",
        event_time="2026-11-27T20:36:26.000000Z",
        region=REGION,
        size=None,
        etag=None,
        version_id="1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF",
        sequencer="617f08299329d189",
    )


def test_eventbridge_permanent_delete_without_version() -> None:
    body = eventbridge_event(
        "Object Deleted",
        size=None,
        etag=None,
        reason="DeleteObject",
        **{"deletion-type": "Permanently Deleted"},
    )

    event = only(parse_message(body))

    assert (event.action, event.version_id, event.size, event.etag) == (REMOVED, None, None, None)


def test_eventbridge_lifecycle_expiration_is_an_object_deleted_removal() -> None:
    body = eventbridge_event(
        "Object Deleted",
        "old/cat.jpg",
        size=None,
        etag=None,
        reason="Lifecycle Expiration",
        **{"deletion-type": "Permanently Deleted"},
    )

    event = only(parse_message(body))

    assert (event.action, event.key) == (REMOVED, "old/cat.jpg")


@pytest.mark.parametrize("version_id", ["", "null"])
def test_eventbridge_empty_and_null_version_ids_become_none(version_id: str) -> None:
    event = only(parse_message(eventbridge_event(version_id=version_id)))

    assert event.version_id is None


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("my+photo.jpg", "my photo.jpg"),
        ("a%2Bb.jpg", "a+b.jpg"),
        ("caf%C3%A9.jpg", "café.jpg"),
        ("100%25.jpg", "100%.jpg"),
        ("photos%2F2024%2Fdog.jpg", "photos/2024/dog.jpg"),
        ("plain-key.jpg", "plain-key.jpg"),
    ],
)
def test_eventbridge_keys_are_decoded_like_notification_keys(raw: str, key: str) -> None:
    # See _eventbridge_key for why EventBridge keys are form-decoded too.
    event = only(parse_message(eventbridge_event(key=raw)))

    assert event.key == key


@pytest.mark.parametrize("raw", ["2026-13-45T00:00:00Z", "yesterday", "1795809600"])
def test_unparseable_event_time_is_malformed(raw: str) -> None:
    record = s3_record()
    record["eventTime"] = raw
    with pytest.raises(MalformedMessage, match="is not an ISO-8601 time"):
        parse_message(json.dumps({"Records": [record]}))


@pytest.mark.parametrize(
    "detail_type",
    [
        "Object Restore Initiated",
        "Object Restore Completed",
        "Object Restore Expired",
        "Object Tags Added",
        "Object Tags Deleted",
        "Object ACL Updated",
        "Object Storage Class Changed",
        "Object Access Tier Changed",
    ],
)
def test_other_s3_eventbridge_detail_types_are_ignored(detail_type: str) -> None:
    assert parse_message(eventbridge_event(detail_type)) == []


# --- malformed messages ---------------------------------------------------------------------


def _without_object_key() -> str:
    record = s3_record()
    del record["s3"]["object"]["key"]
    return notification(record)


def _without_bucket_name() -> str:
    record = s3_record()
    del record["s3"]["bucket"]["name"]
    return notification(record)


def _without_s3() -> str:
    record = s3_record()
    del record["s3"]
    return notification(record)


def _without_event_name() -> str:
    record = s3_record()
    del record["eventName"]
    return notification(record)


def _without_event_time() -> str:
    record = s3_record()
    del record["eventTime"]
    return notification(record)


def _sqs_style_record() -> str:
    record = s3_record()
    record["eventSource"] = "aws:sqs"
    return notification(record)


def _eventbridge_without_detail() -> str:
    event = json.loads(eventbridge_event())
    del event["detail"]
    return json.dumps(event)


def _eventbridge_without_object_key() -> str:
    event = json.loads(eventbridge_event())
    del event["detail"]["object"]["key"]
    return json.dumps(event)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param("", "message body is not valid JSON", id="empty"),
        pytest.param("not json", "message body is not valid JSON", id="not-json"),
        pytest.param('{"Records": [', "message body is not valid JSON", id="truncated-json"),
        pytest.param("[]", "expected a JSON object, got an array", id="json-array"),
        pytest.param('"str"', "expected a JSON object, got a string", id="json-string"),
        pytest.param("42", "expected a JSON object, got a number", id="json-number"),
        pytest.param("null", "expected a JSON object, got null", id="json-null"),
        pytest.param("{}", r"unknown message shape \(top-level fields: none\)", id="empty-object"),
        pytest.param(
            '{"Service": "Amazon S3", "Event": "s3:Other"}',
            "unknown message shape",
            id="other-s3-service-event",
        ),
        pytest.param('{"Records": []}', "Records is not a non-empty list", id="empty-records"),
        pytest.param('{"Records": {}}', "Records is not a non-empty list", id="records-not-a-list"),
        pytest.param(
            '{"Records": ["ObjectCreated:Put"]}',
            r"Records\[0\] is a string, not an object",
            id="non-dict-record",
        ),
        pytest.param(
            _without_object_key(),
            r"Records\[0\]\.s3\.object\.key is missing",
            id="record-without-key",
        ),
        pytest.param(
            _without_bucket_name(),
            r"Records\[0\]\.s3\.bucket\.name is missing",
            id="record-without-bucket",
        ),
        pytest.param(
            _without_s3(), r"Records\[0\]\.s3 is missing or not an object", id="record-without-s3"
        ),
        pytest.param(
            _without_event_name(),
            r"Records\[0\]\.eventName is missing",
            id="record-without-event-name",
        ),
        pytest.param(
            _without_event_time(),
            r"Records\[0\]\.eventTime is missing",
            id="record-without-event-time",
        ),
        pytest.param(
            notification(s3_record(key="")),
            r"Records\[0\]\.s3\.object\.key is missing",
            id="record-with-empty-key",
        ),
        pytest.param(
            _sqs_style_record(),
            r"Records\[0\]\.eventSource is 'aws:sqs', not 'aws:s3'",
            id="record-from-another-source",
        ),
        pytest.param(
            notification(s3_record(key="%FF.jpg")),
            "is not valid %-encoded UTF-8",
            id="key-with-invalid-utf8",
        ),
        pytest.param(
            notification(s3_record(size="1024")),
            r"size is '1024', not a byte count",
            id="size-as-string",
        ),
        pytest.param(
            notification(s3_record(size=-1)), r"size is -1, not a byte count", id="negative-size"
        ),
        pytest.param(
            notification(s3_record(etag=7)), r"eTag is a number, not a string", id="etag-not-string"
        ),
        pytest.param(
            sns_envelope("this is not json"),
            "SNS Message is not valid JSON",
            id="sns-non-json-message",
        ),
        pytest.param(sns_envelope("{}"), "unknown message shape", id="sns-unknown-inner-shape"),
        pytest.param(
            sns_envelope("[1, 2]"),
            "expected a JSON object, got an array",
            id="sns-inner-not-object",
        ),
        pytest.param(
            sns_envelope(sns_envelope(s3_test_event())),
            "SNS notification wraps another SNS notification",
            id="sns-in-sns",
        ),
        pytest.param(
            '{"Type": "Notification", "Message": {"Records": []}}',
            "SNS notification has no string Message",
            id="sns-message-not-string",
        ),
        pytest.param(
            '{"Type": "SubscriptionConfirmation", "Token": "abc"}',
            "unknown message shape",
            id="sns-subscription-confirmation",
        ),
        pytest.param(
            eventbridge_event(source="aws.ec2"),
            "EventBridge event from unexpected source 'aws.ec2'",
            id="eventbridge-other-aws-source",
        ),
        pytest.param(
            eventbridge_event(source="com.example.uploads"),
            "unexpected source 'com.example.uploads'",
            id="eventbridge-custom-source",
        ),
        pytest.param(
            _eventbridge_without_detail(),
            "event.detail is missing or not an object",
            id="eventbridge-without-detail",
        ),
        pytest.param(
            _eventbridge_without_object_key(),
            r"detail\.object\.key is missing",
            id="eventbridge-without-object-key",
        ),
        pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="deeply-nested-json"),
    ],
)
def test_malformed_messages_raise_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(body)


def test_one_bad_record_makes_the_whole_message_malformed() -> None:
    bad = s3_record("ObjectCreated:Put", "b.jpg")
    del bad["s3"]["object"]["key"]

    with pytest.raises(MalformedMessage, match=r"Records\[1\]\.s3\.object\.key"):
        parse_message(notification(s3_record(key="a.jpg"), bad))


def test_malformed_message_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_message("<xml/>")


def test_object_event_is_immutable() -> None:
    event = only(parse_message(notification(s3_record())))

    with pytest.raises(dataclasses.FrozenInstanceError):
        event.key = "other.jpg"  # type: ignore[misc]
    assert event.key == "photos/dog.jpg"


# --- hostile input: each is one message's problem, with a reason --------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            notification(s3_record(key="\ud800.jpg")),
            r"key '\\ud800.jpg' is not valid Unicode text",
            id="key-with-lone-surrogate",
        ),
        pytest.param(
            notification(s3_record(key="%ED%A0%80.jpg")),
            "is not valid %-encoded UTF-8",
            id="key-with-encoded-surrogate",
        ),
        pytest.param(
            notification(s3_record(key="k" * 1025)),
            "longer than S3's 1024-byte key limit",
            id="key-over-1024-bytes",
        ),
        pytest.param(
            notification(s3_record(size=2**63)), "not a byte count", id="size-beyond-64-bits"
        ),
        pytest.param(
            notification(s3_record(sequencer="\udfff")),
            "sequencer '\\\\udfff' is not valid Unicode text",
            id="sequencer-with-lone-surrogate",
        ),
    ],
)
def test_text_the_stores_could_not_take_is_malformed(body: str, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(body)


@pytest.mark.parametrize("bucket", ["\ud800", "photos/2026", "has space", "x" * 256])
def test_bucket_names_s3_could_never_have_are_malformed(bucket: str) -> None:
    record = s3_record()
    record["s3"]["bucket"]["name"] = bucket
    with pytest.raises(MalformedMessage, match=r"bucket\.name"):
        parse_message(notification(record))


def test_legacy_bucket_names_are_accepted() -> None:
    record = s3_record()
    record["s3"]["bucket"]["name"] = "Legacy_Bucket.2009"
    assert only(parse_message(notification(record))).bucket == "Legacy_Bucket.2009"


@pytest.mark.parametrize(
    "event_time",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0999-01-01T00:00:00Z"],
)
def test_event_times_at_the_calendar_edges_are_malformed(event_time: str) -> None:
    record = s3_record()
    record["eventTime"] = event_time
    with pytest.raises(MalformedMessage, match=r"eventTime is not an ISO-8601 time"):
        parse_message(notification(record))


def test_more_records_than_a_message_may_carry_are_skipped_unread_with_a_reason() -> None:
    broken = {"not": "a record"}  # never looked at
    body = notification(
        *[s3_record(key=f"k{n}.jpg") for n in range(MAX_RECORDS_PER_MESSAGE)], broken
    )
    message = read_message(body)
    assert message.events == []
    [ignored] = message.ignored
    assert ignored.reason.startswith(f"the message carries {MAX_RECORDS_PER_MESSAGE + 1} Records")
    assert len(read_message(notification(*[s3_record()] * MAX_RECORDS_PER_MESSAGE)).events) == 10


def test_skip_reasons_name_the_event_type_bucket_and_key() -> None:
    message = read_message(
        notification(
            s3_record("ObjectRestore:Completed", "cold/a+b.jpg"),
            s3_record("ObjectCreated:Put", "new.jpg"),
        )
    )
    assert [event.key for event in message.events] == ["new.jpg"]
    [restore] = message.ignored
    assert (restore.event_name, restore.bucket, restore.key) == (
        "ObjectRestore:Completed",
        BUCKET,
        "cold/a b.jpg",
    )
    assert restore.reason.startswith("unsupported event type ObjectRestore:Completed")


def test_eventbridge_and_test_event_skips_say_what_they_were() -> None:
    [tags] = read_message(eventbridge_event("Object Tags Added", "a.jpg")).ignored
    assert (tags.event_name, tags.bucket, tags.key) == ("Object Tags Added", BUCKET, "a.jpg")
    assert "unsupported EventBridge detail-type 'Object Tags Added'" in tags.reason
    [test_event] = read_message(sns_envelope(s3_test_event())).ignored
    assert (test_event.event_name, test_event.bucket, test_event.key) == (
        "s3:TestEvent",
        BUCKET,
        None,
    )
    assert "names no object" in test_event.reason
