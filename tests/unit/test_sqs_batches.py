"""chalicelib.sqs_batches: which entries are sent again, and which are reported unsent.

SQS's per-entry ``Failed`` answers (SendMessageBatch API reference) pinned with a Stubber:
moto never fails an entry."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.sqs_batches import SEND_BATCH_LIMIT, Retries, send_batch

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/uploads"
ENTRIES = [{"Id": str(n), "MessageBody": f"body {n}"} for n in range(3)]
TRANSIENT = {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "again"}
REFUSED = {"Id": "2", "SenderFault": True, "Code": "InvalidParameterValue", "Message": "big"}


def _ok(*ids):
    return [{"Id": i, "MessageId": f"m{i}", "MD5OfMessageBody": "0" * 32} for i in ids]


@pytest.fixture
def sqs():
    client = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_without_retries_every_failed_entry_is_reported_refused_first(sqs):
    client, stubber = sqs
    response = {"Successful": _ok("0"), "Failed": [TRANSIENT, REFUSED]}
    stubber.add_response("send_message_batch", response, {"QueueUrl": URL, "Entries": ENTRIES})

    outcome = send_batch(client, URL, ENTRIES)

    assert outcome.failed == [REFUSED, TRANSIENT] and outcome.resent_entries == 0


def test_only_the_failed_entries_are_sent_again_with_doubling_backoff(sqs):
    client, stubber = sqs
    failed_once = {"Successful": _ok("0", "2"), "Failed": [TRANSIENT]}
    stubber.add_response("send_message_batch", failed_once, {"QueueUrl": URL, "Entries": ENTRIES})
    again = {"QueueUrl": URL, "Entries": [ENTRIES[1]]}
    stubber.add_response("send_message_batch", {"Successful": [], "Failed": [TRANSIENT]}, again)
    stubber.add_response("send_message_batch", {"Successful": _ok("1"), "Failed": []}, again)
    slept = []

    outcome = send_batch(client, URL, ENTRIES, Retries(attempts=3), sleep=slept.append)

    assert outcome.failed == [] and outcome.resent_entries == 2
    assert slept == [0.05, 0.1]


def test_more_than_ten_entries_are_refused_before_any_call(sqs):
    client, _ = sqs
    entries = [{"Id": str(n), "MessageBody": "b"} for n in range(SEND_BATCH_LIMIT + 1)]
    with pytest.raises(ValueError, match="SendMessageBatch takes 10"):
        send_batch(client, URL, entries)
