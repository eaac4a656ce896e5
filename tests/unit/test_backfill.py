"""localdev.backfill: listing, per-entry retries, pacing, checkpoints, the dry run.

SQS's per-entry ``Failed`` answers are pinned with a botocore Stubber (moto never fails an
entry); listing and sending against moto (in-process ``mock_aws``).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.events import read_message
from localdev import cli
from localdev.backfill import (
    BackfillError,
    BackfillRequest,
    ListedObject,
    OutgoingMessage,
    Pacer,
    QueueSender,
    RetentionWatch,
    backfill,
    census,
    created_event,
    list_objects,
    notification_body,
    retention_warning,
    send_all,
)
from localdev.progress import ProgressBar

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/uploads"
BUCKET = "photos-bucket"


def _messages(count: int, start: int = 0) -> list[OutgoingMessage]:
    return [OutgoingMessage(f"k{n:03d}.jpg", f"body {n}") for n in range(start, start + count)]


def _entries(messages, ids=None) -> list[dict]:
    ids = ids or [str(n) for n in range(len(messages))]
    return [{"Id": i, "MessageBody": m.body} for i, m in zip(ids, messages, strict=True)]


def _ok(entries) -> dict:
    return {
        "Successful": [
            {"Id": e["Id"], "MessageId": f"m-{e['Id']}", "MD5OfMessageBody": "0" * 32}
            for e in entries
        ],
        "Failed": [],
    }


@pytest.fixture
def sqs():
    client = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_failed_entries_are_sent_again_alone_until_queued(sqs):
    client, stubber = sqs
    batch = _messages(3)
    first = _entries(batch)
    # AWS's documented shape for a partial failure: SenderFault false is SQS's own fault.
    stubber.add_response(
        "send_message_batch",
        {
            "Successful": _ok([first[0], first[2]])["Successful"],
            "Failed": [
                {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            ],
        },
        {"QueueUrl": QUEUE_URL, "Entries": first},
    )
    retry = [{"Id": "1", "MessageBody": "body 1"}]
    stubber.add_response(
        "send_message_batch", _ok(retry), {"QueueUrl": QUEUE_URL, "Entries": retry}
    )
    slept = []
    sender = QueueSender(client, QUEUE_URL, sleep=slept.append)

    sender.send(batch)

    assert sender.retried_entries == 1
    assert slept == [0.05]


def test_a_sender_fault_stops_at_the_checkpoint_of_the_last_complete_batch(sqs):
    client, stubber = sqs
    first, second = _messages(10), _messages(10, start=10)
    stubber.add_response(
        "send_message_batch",
        _ok(_entries(first)),
        {"QueueUrl": QUEUE_URL, "Entries": _entries(first)},
    )
    stubber.add_response(
        "send_message_batch",
        {
            "Successful": [],
            "Failed": [
                {"Id": "4", "SenderFault": True, "Code": "InvalidParameterValue", "Message": "big"}
            ],
        },
        {"QueueUrl": QUEUE_URL, "Entries": _entries(second)},
    )
    stream = io.StringIO()

    with pytest.raises(BackfillError) as stopped:
        send_all(first + second, QueueSender(client, QUEUE_URL), ProgressBar("t", stream=stream))

    assert stopped.value.checkpoint == "k009.jpg"
    assert "'k014.jpg': InvalidParameterValue: big" in str(stopped.value)
    assert stream.getvalue().endswith("\n")  # the error starts on a line of its own


def test_an_entry_that_keeps_failing_stops_the_backfill_after_every_attempt(sqs):
    client, stubber = sqs
    message = _messages(1)
    failure = {"Id": "0", "SenderFault": False, "Code": "ServiceUnavailable", "Message": ""}
    for _ in range(8):
        stubber.add_response(
            "send_message_batch",
            {"Successful": [], "Failed": [failure]},
            {"QueueUrl": QUEUE_URL, "Entries": _entries(message)},
        )
    slept = []

    with pytest.raises(BackfillError, match="still failing after 8 attempts") as stopped:
        send_all(
            message,
            QueueSender(client, QUEUE_URL, sleep=slept.append),
            ProgressBar("t", stream=io.StringIO()),
        )

    assert stopped.value.checkpoint is None
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2]


def test_the_pacer_spaces_batches_to_the_rate():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(20.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait_for(10)

    assert slept == [0.5, 0.5]  # 10 messages at 20/s: one batch every half second


def test_the_progress_bar_has_rate_eta_and_last_key_once_the_total_is_known():
    bar = ProgressBar("backfill")

    assert bar.render(250, "a/b.jpg", elapsed=5.0) == "backfill 250  50/s  a/b.jpg"
    bar.total = 1000  # the counting pass finished
    assert bar.render(250, "a/b.jpg", elapsed=5.0) == (
        "backfill [#######.......................] 250/1,000  50/s  ETA 0:00:15  a/b.jpg"
    )
    assert bar.render(0, None, elapsed=0.0) == ("backfill [..............................] 0/1,000")


def test_a_backfill_longer_than_the_queue_retention_is_warned_about():
    four_days = timedelta(days=4)
    assert retention_warning(10_000_000, 25.0, four_days) == (
        "warning: 10,000,000 images at 25.0/s take 4 days, 15:06:40, longer than the queue's "
        "retention (4 days, 0:00:00): messages can expire before they are indexed; backfill it "
        "in parts (--prefix, or stop and --start-after later) or raise the queue's retention"
    )
    assert retention_warning(8_640_000, 25.0, four_days) is None  # exactly 4 days


def test_without_a_rate_the_warning_waits_for_a_measured_rate_and_comes_once():
    now, stream = [0.0], io.StringIO()
    watch = RetentionWatch(timedelta(hours=1), None, stream, clock=lambda: now[0])
    watch.check(total=None, sent=10)
    now[0] = 1.0
    watch.check(total=100_000, sent=10)  # measured over 1 s only: not yet
    assert stream.getvalue() == ""
    now[0] = 10.0
    watch.check(total=100_000, sent=100)  # 10/s: 100,000 take 2:46:40 > 1 hour
    watch.check(total=100_000, sent=200)
    assert stream.getvalue().count("warning: 100,000 images at 10.0/s take 2:46:40") == 1


@pytest.fixture
def moto_aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket=BUCKET)
        for key, body in {
            "a/1.jpg": b"\xff",
            "a/2.png": b"\x89" * 5,
            "a/empty.jpg": b"",
            "a/notes.txt": b"hello",
            "a/sub dir/3+x.JPEG": b"\xff\xd8",
            "b/4.jpg": b"\xff",
        }.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        yield s3, sqs, sqs.create_queue(QueueName="uploads")["QueueUrl"]


def _received(sqs, queue_url) -> list:
    bodies = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [message["Body"] for message in batch]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    return [event for body in bodies for event in read_message(body).events]


def test_backfill_sends_one_event_per_eligible_image_that_the_function_reads(moto_aws):
    s3, sqs, queue_url = moto_aws

    result = backfill(BackfillRequest(BUCKET, queue_url, "a/"), s3, sqs, stream=io.StringIO())

    assert (result.sent, result.skipped, result.last_key) == (3, 2, "a/sub dir/3+x.JPEG")
    events = _received(sqs, queue_url)
    assert sorted(event.key for event in events) == ["a/1.jpg", "a/2.png", "a/sub dir/3+x.JPEG"]
    png = next(event for event in events if event.key == "a/2.png")
    assert (png.bucket, png.size, png.sequencer, png.event_name) == (
        BUCKET,
        5,
        None,
        "ObjectCreated:Backfill",
    )


def test_start_after_resumes_after_the_printed_key(moto_aws, capsys):
    _, sqs, queue_url = moto_aws

    assert cli.main(["backfill", "--bucket", BUCKET, "--queue-url", queue_url]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "last key sent: b/4.jpg"
    assert "enqueued 4 images" in out and "2 objects skipped" in out
    _received(sqs, queue_url)

    argv = ["backfill", "--bucket", BUCKET, "--queue-url", queue_url, "--start-after", "a/2.png"]
    assert cli.main(argv) == 0
    assert sorted(event.key for event in _received(sqs, queue_url)) == [
        "a/sub dir/3+x.JPEG",
        "b/4.jpg",
    ]


def test_dry_run_counts_objects_eligible_images_and_bytes_and_sends_nothing(moto_aws, capsys):
    _, sqs, queue_url = moto_aws

    assert cli.main(["backfill", "--bucket", BUCKET, "--dry-run"]) == 0

    assert capsys.readouterr().out.strip() == (
        f"dry run: 6 objects, 4 eligible images (9 bytes) under s3://{BUCKET}/; nothing sent"
    )
    assert _received(sqs, queue_url) == []


def test_the_census_pages_through_more_than_one_listing_page(moto_aws):
    s3, _, _ = moto_aws
    for number in range(1005):
        s3.put_object(Bucket=BUCKET, Key=f"c/{number:05d}.jpg", Body=b"\xff")

    counted = census(list_objects(s3, BUCKET, "c/"), BUCKET)

    assert (counted.objects, counted.eligible, counted.last_key) == (1005, 1005, "c/01004.jpg")


def test_the_listed_event_keeps_the_object_facts():
    obj = ListedObject("x y.jpg", 7, '"abc"', datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    [record] = json.loads(notification_body(created_event(BUCKET, obj, "eu-west-1")))["Records"]

    assert record["s3"]["object"] == {"key": "x+y.jpg", "size": 7, "eTag": '"abc"'}
    assert record["eventTime"] == "2026-01-02T03:04:05.678000Z"
    assert record["awsRegion"] == "eu-west-1"


def test_a_listing_error_after_a_page_stops_at_that_pages_checkpoint(sqs):
    client, stubber = sqs
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    listed = datetime(2026, 1, 1, tzinfo=UTC)
    page = [
        {"Key": f"k{n:03d}.jpg", "Size": 1, "ETag": '"e"', "LastModified": listed}
        for n in range(10)
    ]
    request = {"Bucket": BUCKET, "Prefix": "", "MaxKeys": 1000}
    queue = BackfillRequest(BUCKET, QUEUE_URL, count_first=False)
    with Stubber(s3) as listing:
        listing.add_response(
            "list_objects_v2",
            {"Contents": page, "IsTruncated": True, "NextContinuationToken": "t1", "KeyCount": 10},
            request,
        )
        listing.add_client_error(
            "list_objects_v2", "AccessDenied", http_status_code=403,
            expected_params={**request, "ContinuationToken": "t1"},
        )  # fmt: skip
        listed_objects = [
            ListedObject(o["Key"], o["Size"], o["ETag"], o["LastModified"]) for o in page
        ]
        sent = [
            OutgoingMessage(o.key, notification_body(created_event(BUCKET, o, "us-east-1")))
            for o in listed_objects
        ]
        stubber.add_response(
            "send_message_batch",
            _ok(_entries(sent)),
            {"QueueUrl": QUEUE_URL, "Entries": _entries(sent)},
        )

        with pytest.raises(BackfillError) as stopped:
            backfill(queue, s3, client, stream=io.StringIO())

    assert stopped.value.checkpoint == "k009.jpg"
    assert "AccessDenied" in str(stopped.value)


def test_the_stages_rekognition_tps_is_the_default_rate_and_the_dry_run_warns(
    moto_aws, tmp_path, capsys
):
    s3, sqs, queue_url = moto_aws
    for number in range(60):
        s3.put_object(Bucket=BUCKET, Key=f"c/{number:02d}.jpg", Body=b"\xff")
    # SQS's shortest retention, 60 s, which 64 images at 1/s outlast.
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"MessageRetentionPeriod": "60"})
    config = {
        "version": "2.0",
        "app_name": "image-label-search",
        "stages": {"dev": {"environment_variables": {"REKOGNITION_TPS": "1"}}},
    }
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    stage = ["--stage", "dev", "--project-dir", str(tmp_path)]

    assert cli.stage_rate("dev", str(tmp_path)) == 1
    argv = ["backfill", "--bucket", BUCKET, "--queue-url", queue_url, "--dry-run", *stage]
    assert cli.main(argv) == 0

    assert capsys.readouterr().err.strip() == (
        "warning: 64 images at 1.0/s take 0:01:04, longer than the queue's retention (0:01:00): "
        "messages can expire before they are indexed; backfill it in parts (--prefix, or stop "
        "and --start-after later) or raise the queue's retention"
    )
