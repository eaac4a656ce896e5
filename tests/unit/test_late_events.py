"""A create older than the tombstone horizon, with no stored state, is indexed only if S3 still
serves that object: HeadObject pinned by a Stubber (responses as the S3 API reference documents
them), the ingestor's use of it, and end to end on a versioned moto bucket with the embedded
store, where a late create after compact must not resurrect a deleted image."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.documents import image_id
from chalicelib.events import read_message
from chalicelib.ingest import BatchIngestor
from chalicelib.late_events import NOT_CURRENT, LateEventCheck, LateEventCheckFailed
from localdev.aws import compact
from localdev.embedded.sqlite_store import SqliteStore
from tests.samples import s3_event_body, sqs_record
from tests.unit.test_ingest import FakeLabeler, FakeStore

NOW = datetime(2026, 12, 1, tzinfo=UTC)
HORIZON = timedelta(days=30)
OLD_TIME = "2026-10-01T00:00:00.000Z"  # 61 days before NOW
ETAG = "d41d8cd98f00b204e9800998ecf8427e"  # tests/samples.py's eTag


def _s3():
    return boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _event(event_time=OLD_TIME, version_id=None, name="ObjectCreated:Put"):
    body = s3_event_body(name, "a.jpg", event_time=event_time, version_id=version_id)
    return read_message(body).events[0]


def _head(stubber, **response):
    stubber.add_response("head_object", response, {"Bucket": "photos", "Key": "a.jpg"})


def _head_error(stubber, status, code):
    stubber.add_client_error(
        "head_object",
        service_error_code=code,
        http_status_code=status,
        expected_params={"Bucket": "photos", "Key": "a.jpg"},
    )


def test_only_creates_older_than_the_horizon_need_a_check():
    check = LateEventCheck(_s3, HORIZON, clock=lambda: NOW)
    assert check.needs_check(_event())
    assert not check.needs_check(_event(event_time="2026-11-20T00:00:00.000Z"))
    assert not check.needs_check(_event(name="ObjectRemoved:Delete"))


@pytest.mark.parametrize(
    ("version_id", "head", "reason"),
    [
        ("v1", {"VersionId": "v1", "ETag": '"other"'}, None),
        ("v1", {"VersionId": "v2", "ETag": f'"{ETAG}"'}, NOT_CURRENT),  # replaced since
        (None, {"ETag": f'"{ETAG}"'}, None),  # unversioned: S3 quotes the ETag
        (None, {"ETag": '"other"'}, NOT_CURRENT),
    ],
)
def test_the_current_object_must_be_the_events_version_or_etag(version_id, head, reason):
    s3 = _s3()
    with Stubber(s3) as stubber:
        _head(stubber, **head)
        assert (
            LateEventCheck(lambda: s3, HORIZON).skip_reason(_event(version_id=version_id)) == reason
        )
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("status", "code"), [(404, "404"), (403, "403")])
def test_a_deleted_key_is_not_current(status, code):
    """404 for a missing key or a delete marker; 403 instead without s3:ListBucket."""
    s3 = _s3()
    with Stubber(s3) as stubber:
        _head_error(stubber, status, code)
        assert (
            LateEventCheck(lambda: s3, HORIZON).skip_reason(_event(version_id="v1")) == NOT_CURRENT
        )


def _ingestor(store, s3, labeler):
    return BatchIngestor(
        labeler=labeler,
        store=store,
        executor=ThreadPoolExecutor(2),
        region="us-east-1",
        logger=logging.getLogger("test-late-events"),
        clock=lambda: NOW,
        late_events=LateEventCheck(lambda: s3, HORIZON, clock=lambda: NOW),
    )


def test_the_ingestor_skips_a_late_create_s3_no_longer_serves_without_labelling(caplog):
    s3, labeler = _s3(), FakeLabeler()
    body = s3_event_body("ObjectCreated:Put", "a.jpg", event_time=OLD_TIME, version_id="v1")
    with Stubber(s3) as stubber, caplog.at_level(logging.INFO):
        _head_error(stubber, 404, "404")
        failed = _ingestor(FakeStore(), s3, labeler).process([sqs_record("m1", body)])

    assert failed == [] and labeler.calls == []
    assert [r.reason for r in caplog.records if r.getMessage() == "image skipped"] == [NOT_CURRENT]


def test_a_late_create_is_retried_when_s3_cannot_answer():
    s3, labeler = _s3(), FakeLabeler()
    body = s3_event_body("ObjectCreated:Put", "a.jpg", event_time=OLD_TIME)
    with Stubber(s3) as stubber:
        _head_error(stubber, 503, "SlowDown")
        failed = _ingestor(FakeStore(), s3, labeler).process([sqs_record("m1", body)])

    assert failed == ["m1"] and labeler.calls == []


def test_a_late_create_with_stored_state_or_a_recent_one_costs_no_head_object():
    """The Stubber has no response queued: any HeadObject would raise and fail the message."""
    s3, labeler = _s3(), FakeLabeler()
    stored = {image_id("photos", "a.jpg"): {"sequencer": "0001", "event_time": OLD_TIME}}
    late = s3_event_body("ObjectCreated:Put", "a.jpg", event_time=OLD_TIME)
    recent = s3_event_body("ObjectCreated:Put", "b.jpg", event_time="2026-11-30T00:00:00.000Z")
    with Stubber(s3):
        failed = _ingestor(FakeStore(stored=stored), s3, labeler).process(
            [sqs_record("m1", late), sqs_record("m2", recent)]
        )

    assert failed == [] and [call[1] for call in labeler.calls] == ["a.jpg", "b.jpg"]


@mock_aws
def test_a_late_create_after_compact_does_not_resurrect_a_deleted_versioned_image(tmp_path):
    s3 = _s3()
    s3.create_bucket(Bucket="photos")
    s3.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket="photos", Key="a.jpg", Body=b"old")["VersionId"]
    current = s3.put_object(Bucket="photos", Key="kept.jpg", Body=b"kept")
    s3.delete_object(Bucket="photos", Key="a.jpg")  # a delete marker; version `old` remains
    store = SqliteStore(tmp_path / "images.sqlite3")
    delete = s3_event_body(
        "ObjectRemoved:DeleteMarkerCreated", "a.jpg", event_time=OLD_TIME, sequencer="0002"
    )
    assert _ingestor(store, s3, FakeLabeler()).process([sqs_record("d", delete)]) == []
    sqs = boto3.client("sqs", region_name="us-east-1")
    urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("q", "dlq")]
    # moto's default retention is 4 days for both queues: 8 days, under the 30 of the setting.
    removed = compact.compact(
        sqs, store, *urls, retention_days=30, now=NOW + HORIZON + timedelta(days=1)
    )
    assert removed.removed == 1 and store.stored_positions([image_id("photos", "a.jpg")]) == {}

    late = s3_event_body(
        "ObjectCreated:Put", "a.jpg", event_time=OLD_TIME, version_id=old, sequencer="0001"
    )
    kept = s3_event_body(
        "ObjectCreated:Put", "kept.jpg", event_time=OLD_TIME, version_id=current["VersionId"]
    )
    labeler = FakeLabeler()
    failed = _ingestor(store, s3, labeler).process([sqs_record("l", late), sqs_record("k", kept)])

    assert failed == [] and [call[1] for call in labeler.calls] == ["kept.jpg"]
    assert store.get(image_id("photos", "a.jpg")) is None
    assert store.get(image_id("photos", "kept.jpg"))["key"] == "kept.jpg"


def test_an_unreachable_s3_fails_the_check_rather_than_the_batch():
    class Unreachable:
        def head_object(self, **request):
            raise EndpointConnectionError(endpoint_url="https://photos.s3.amazonaws.com")

    with pytest.raises(LateEventCheckFailed, match="Could not connect"):
        LateEventCheck(Unreachable, HORIZON).skip_reason(_event())
