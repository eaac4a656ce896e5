"""redrive: the dead-letter queue back to the stage's queue.

Against the moto server (a stage deployed from a clean clone): moto 5.2.5 does not implement
StartMessageMoveTask (it answers 500), so the command moves the messages by hand; that path is
what runs here. The move-task path is pinned with a botocore Stubber built from the responses
AWS documents for StartMessageMoveTask and ListMessageMoveTasks.
"""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from chalicelib.redelivery import REDELIVERIES_ATTRIBUTE
from localdev.aws import redrive
from localdev.aws.__main__ import main
from localdev.aws.context import Context
from localdev.aws.stage_targets import StageTargets
from tests.deploy.operations_stage import common_args, deploy_stage, drain, drain_messages

ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:image-label-search-dev-uploads"
DLQ_ARN = f"{QUEUE_ARN}-dlq"


@pytest.mark.integration
def test_redrive_moves_every_dead_letter_back_and_then_refuses_an_empty_dlq(
    aws, project, opensearch_url, capsys
):
    outputs = deploy_stage(project, opensearch_url, aws)
    sqs = aws.client("sqs")
    bodies = [f'{{"poison": {n}}}' for n in range(13)]  # more than one receive of ten
    for body in bodies:
        sqs.send_message(QueueUrl=outputs["DeadLetterQueueUrl"], MessageBody=body)
    # chalicelib/redelivery.py counts a throttled image's redeliveries in an attribute, which
    # the move drops (the backoff starts afresh); any other attribute travels with the message.
    counted = {
        REDELIVERIES_ATTRIBUTE: {"DataType": "Number", "StringValue": "3"},
        "origin": {"DataType": "String", "StringValue": "upload"},
    }
    sqs.send_message(
        QueueUrl=outputs["DeadLetterQueueUrl"], MessageBody="counted", MessageAttributes=counted
    )
    capsys.readouterr()

    assert main(["redrive", *common_args(project)]) == 0

    out = capsys.readouterr().out
    assert "StartMessageMoveTask is not available here (500): moving by hand" in out
    assert "moved 14 of 14 message(s) with receive-send-delete: COMPLETED" in out
    moved = {
        m["Body"]: m.get("MessageAttributes") for m in drain_messages(sqs, outputs["QueueUrl"])
    }
    assert sorted(moved) == sorted([*bodies, "counted"])
    assert set(moved["counted"]) == {"origin"}
    assert moved["counted"]["origin"]["StringValue"] == "upload"
    assert drain(sqs, outputs["DeadLetterQueueUrl"]) == []

    assert main(["redrive", *common_args(project)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: the dead-letter queue {outputs['DeadLetterQueueUrl']} is empty: nothing to redrive"
    )


def _targets() -> StageTargets:
    return StageTargets(
        bucket="photos",
        queue_url=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/image-label-search-dev-uploads",
        queue_arn=QUEUE_ARN,
        dlq_url=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/image-label-search-dev-uploads-dlq",
        dlq_arn=DLQ_ARN,
        search_endpoint="https://search.example",
    )


def _task(status: str, moved: int, **extra) -> dict:
    # The shape of a ListMessageMoveTasks result entry (SQS API reference).
    return {
        "Status": status,
        "SourceArn": DLQ_ARN,
        "DestinationArn": QUEUE_ARN,
        "ApproximateNumberOfMessagesMoved": moved,
        "ApproximateNumberOfMessagesToMove": 5,
        "StartedTimestamp": 1764633600000,
        **extra,
    }


def test_the_move_task_is_started_and_watched_until_it_completes():
    sqs = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    targets, handle = _targets(), "eyJ0YXNrSWQiOiJkYzE2In0="
    with Stubber(sqs) as stubber:
        stubber.add_response(
            "get_queue_attributes",
            {"Attributes": {"ApproximateNumberOfMessages": "5"}},
            {"QueueUrl": targets.dlq_url, "AttributeNames": ["ApproximateNumberOfMessages"]},
        )
        stubber.add_response(
            "start_message_move_task",
            {"TaskHandle": handle},
            {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN, "MaxNumberOfMessagesPerSecond": 50},
        )
        listing = {"SourceArn": DLQ_ARN, "MaxResults": 10}
        running = _task("RUNNING", 2, TaskHandle=handle, MaxNumberOfMessagesPerSecond=50)
        stubber.add_response("list_message_move_tasks", {"Results": [running]}, listing)
        stubber.add_response(
            "list_message_move_tasks", {"Results": [_task("COMPLETED", 5)]}, listing
        )
        out, slept = io.StringIO(), []
        ctx = Context(stage="dev", out=out, clients={"sqs": sqs})

        result = redrive.redrive(ctx, targets, rate=50, sleep=slept.append)

        stubber.assert_no_pending_responses()
    assert (result.method, result.moved, result.to_move, result.status) == (
        "move-task",
        5,
        5,
        "COMPLETED",
    )
    assert slept == [redrive.POLL_SECONDS]
    assert "redrive [" + "#" * 30 + "] 5/5" in out.getvalue()
    assert redrive.report(ctx, result) == 0


def test_a_failed_move_task_is_reported_with_its_reason_and_exit_status_1():
    ctx = Context(stage="dev", out=io.StringIO())
    failed = redrive.RedriveResult(
        "move-task", 2, 5, "FAILED", "AWS.SimpleQueueService.NonExistentQueue"
    )

    assert redrive.report(ctx, failed) == 1
    assert ctx.out.getvalue().strip() == (
        "moved 2 of 5 message(s) with move-task: FAILED (AWS.SimpleQueueService.NonExistentQueue)"
    )


def _stubbed_sqs():
    sqs = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return sqs, Stubber(sqs)


def _depth(stubber, targets, depth=5):
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"ApproximateNumberOfMessages": str(depth)}},
        {"QueueUrl": targets.dlq_url, "AttributeNames": ["ApproximateNumberOfMessages"]},
    )


MOVE = {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN}
LISTING = {"SourceArn": DLQ_ARN, "MaxResults": 10}
STARTED_MS = 1764633600000


def test_a_transient_internal_failure_of_real_sqs_is_raised_not_moved_by_hand():
    sqs, stubber = _stubbed_sqs()
    targets = _targets()
    with stubber:
        _depth(stubber, targets)
        stubber.add_client_error(
            "start_message_move_task", "InternalFailure", http_status_code=500, expected_params=MOVE
        )
        ctx = Context(stage="dev", out=io.StringIO(), clients={"sqs": sqs})

        with pytest.raises(ClientError, match="InternalFailure"):
            redrive.redrive(ctx, targets, sleep=lambda _: None)
        stubber.assert_no_pending_responses()  # no receive: nothing moved by hand


def test_unsupported_operation_falls_back_to_the_manual_move():
    sqs, stubber = _stubbed_sqs()
    targets = _targets()
    with stubber:
        _depth(stubber, targets, depth=1)
        stubber.add_client_error(
            "start_message_move_task",
            "UnsupportedOperation",
            http_status_code=400,
            expected_params=MOVE,
        )
        stubber.add_response(
            "receive_message",
            {"Messages": []},
            {
                "QueueUrl": targets.dlq_url,
                "MaxNumberOfMessages": 1,
                "WaitTimeSeconds": redrive.RECEIVE_WAIT_SECONDS,
                "VisibilityTimeout": redrive.RECEIVE_VISIBILITY_SECONDS,
                "MessageAttributeNames": ["All"],
            },
        )
        ctx = Context(stage="dev", out=io.StringIO(), clients={"sqs": sqs})

        result = redrive.redrive(ctx, targets)
        stubber.assert_no_pending_responses()

    assert (result.method, result.moved) == (redrive.MANUAL, 0)
    assert "not available here (UnsupportedOperation): moving by hand" in ctx.out.getvalue()


def test_a_task_finished_before_the_first_poll_is_matched_by_destination_and_start():
    """An empty listing (the task not listed yet) is polled again, not an IndexError; a
    finished task of another destination or an earlier start is never taken for ours."""
    sqs, stubber = _stubbed_sqs()
    targets = _targets()
    with stubber:
        _depth(stubber, targets)
        stubber.add_response("start_message_move_task", {"TaskHandle": "h"}, MOVE)
        stubber.add_response("list_message_move_tasks", {"Results": []}, LISTING)
        other = _task("COMPLETED", 9, DestinationArn=f"{QUEUE_ARN}-other")
        earlier = _task("FAILED", 0, StartedTimestamp=STARTED_MS - 10 * 60 * 1000)
        ours = _task("COMPLETED", 5, StartedTimestamp=STARTED_MS + 1000)
        stubber.add_response("list_message_move_tasks", {"Results": [other, earlier]}, LISTING)
        stubber.add_response(
            "list_message_move_tasks", {"Results": [other, ours, earlier]}, LISTING
        )
        ctx = Context(stage="dev", out=io.StringIO(), clients={"sqs": sqs})

        result = redrive.redrive(
            ctx, targets, sleep=lambda _: None, clock=lambda: STARTED_MS / 1000
        )
        stubber.assert_no_pending_responses()

    assert (result.method, result.moved, result.status) == (redrive.MOVE_TASK, 5, "COMPLETED")


def test_a_task_that_never_appears_is_a_one_line_error():
    sqs, stubber = _stubbed_sqs()
    targets = _targets()
    with stubber:
        _depth(stubber, targets)
        stubber.add_response("start_message_move_task", {"TaskHandle": "h"}, MOVE)
        for _ in range(redrive.MAX_POLLS_WITHOUT_TASK + 1):
            stubber.add_response("list_message_move_tasks", {"Results": []}, LISTING)
        ctx = Context(stage="dev", out=io.StringIO(), clients={"sqs": sqs})

        with pytest.raises(redrive.RedriveStopped, match="move task h is not in"):
            redrive.redrive(ctx, targets, sleep=lambda _: None, clock=lambda: STARTED_MS / 1000)


def test_a_refused_message_stops_the_manual_move_with_one_line_and_no_traceback():
    sqs, stubber = _stubbed_sqs()
    targets = _targets()
    received = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": "x" * 10,
        "MD5OfBody": "0" * 32,
    }
    with stubber:
        _depth(stubber, targets, depth=1)
        stubber.add_response(
            "receive_message",
            {"Messages": [received]},
            {
                "QueueUrl": targets.dlq_url,
                "MaxNumberOfMessages": 1,
                "WaitTimeSeconds": redrive.RECEIVE_WAIT_SECONDS,
                "VisibilityTimeout": redrive.RECEIVE_VISIBILITY_SECONDS,
                "MessageAttributeNames": ["All"],
            },
        )
        refused = {"Id": "0", "SenderFault": True, "Code": "InvalidMessageContents", "Message": ""}
        stubber.add_response(
            "send_message_batch",
            {"Successful": [], "Failed": [refused]},
            {"QueueUrl": targets.queue_url, "Entries": [{"Id": "0", "MessageBody": "x" * 10}]},
        )
        ctx = Context(stage="dev", out=io.StringIO(), clients={"sqs": sqs})

        with pytest.raises(redrive.RedriveStopped) as stopped:
            redrive.redrive(ctx, targets, method=redrive.MANUAL)
        stubber.assert_no_pending_responses()  # not deleted from the DLQ

    assert str(stopped.value) == (
        "redrive stopped after 0 message(s), the rest stay in the DLQ: SQS refused the message "
        "for 'm1': InvalidMessageContents: "
    )
    assert stopped.value.__cause__ is None and stopped.value.__suppress_context__
