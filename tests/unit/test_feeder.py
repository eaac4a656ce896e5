"""The flood's feeder (localdev/feeder.py) against moto's SQS: it empties the staging queue into
its backlog, tops the function's queue up to its target from there, bodies and attributes
unchanged, and keeps a message SQS refuses for the next round (that answer is stubbed: moto
accepts every entry; SendMessageBatch's ``Failed`` shape is the SQS API reference's)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from localdev.feeder import QueueFeeder

ORIGIN = {"origin": {"DataType": "String", "StringValue": "backfill"}}


@pytest.fixture
def sqs():
    with mock_aws():
        yield boto3.client(
            "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )


def _depth(sqs, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


@pytest.fixture
def queues(sqs):
    staging = sqs.create_queue(QueueName="uploads-staging")["QueueUrl"]
    queue = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    for n in range(40):
        sqs.send_message(QueueUrl=staging, MessageBody=f"event {n}", MessageAttributes=ORIGIN)
    return staging, queue


def test_the_flood_waits_in_the_backlog_until_the_pollers_start(sqs, queues):
    staging, queue = queues
    feeder = QueueFeeder(sqs, staging, queue)  # target 0: the pollers have not started
    assert feeder.feed_once() == 40
    assert (_depth(sqs, staging), _depth(sqs, queue), feeder.backlog) == (0, 0, 40)
    assert feeder.taken == 40  # what an upload's backpressure reads (bench/flood.py)


def test_the_queue_is_topped_up_to_the_target_in_order_and_no_further(sqs, queues):
    staging, queue = queues
    feeder = QueueFeeder(sqs, staging, queue, target=15)
    assert feeder.feed_once() == 40 + 15
    assert (_depth(sqs, queue), feeder.backlog) == (15, 25)
    assert feeder.feed_once() == 0  # full enough: nothing moves

    moved = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in moved] == [f"event {n}" for n in range(10)]
    assert all(m["MessageAttributes"] == ORIGIN for m in moved)
    for message in moved:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert feeder.feed_once() == 10  # the pollers took ten: ten more come
    assert feeder.backlog == 15


def test_a_message_sqs_refuses_stays_at_the_head_of_the_backlog():
    sqs = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    feeder = QueueFeeder(sqs, "https://staging", "https://queue", target=2)
    with Stubber(sqs) as stubber:
        staged = [
            {"MessageId": f"s{n}", "ReceiptHandle": f"r{n}", "Body": f"event {n}"} for n in range(2)
        ]
        stubber.add_response("receive_message", {"Messages": staged})
        stubber.add_response("delete_message_batch", {"Successful": [], "Failed": []})
        stubber.add_response("receive_message", {})
        stubber.add_response(
            "get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "0"}}
        )
        stubber.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "1", "MessageId": "m1", "MD5OfMessageBody": "0" * 32}],
                "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError"}],
            },
            expected_params={
                "QueueUrl": "https://queue",
                "Entries": [
                    {"Id": "0", "MessageBody": "event 0"},
                    {"Id": "1", "MessageBody": "event 1"},
                ],
            },
        )
        stubber.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "0" * 32}],
                "Failed": [],
            },
            expected_params={
                "QueueUrl": "https://queue",
                "Entries": [{"Id": "0", "MessageBody": "event 0"}],
            },
        )
        assert feeder.feed_once() == 2 + 2
        stubber.assert_no_pending_responses()
    assert feeder.backlog == 0
