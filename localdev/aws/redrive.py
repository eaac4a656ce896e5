"""``redrive``: send the dead-letter queue's messages back to the stage's queue, after a fix.

SQS's own mover first: ``StartMessageMoveTask`` (DLQ -> source queue, done by SQS, keeps each
message's attributes and its original enqueue time), watched with ``ListMessageMoveTasks``.
Only where the endpoint does not offer it, the same move by hand: an emulator (an endpoint
override such as moto's, which answers 500 "not implemented"), an HTTP 501, or real SQS's
UnsupportedOperation. A transient error of real SQS (500 InternalFailure) is raised, never
taken for "not offered": the move task is what keeps the messages' enqueue times.

By hand: receive up to ten, send them (bodies and message attributes) to the queue, then delete
them from the DLQ. Sent before deleted, so a crash in between leaves a duplicate, which the
pipeline ignores (an equal event position is stale), never a lost message. The throttle
redelivery count (chalicelib/redelivery.REDELIVERIES_ATTRIBUTE) is dropped, so a redriven
message starts its throttle backoff afresh (the move task cannot drop it: such a message's next
throttled copy waits the longer delay of its count, at most 15 minutes). The manual move stops
after the number of messages the DLQ held at the start: a message that fails again and comes
back meanwhile is not moved around in a loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlparse

from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.redelivery import REDELIVERIES_ATTRIBUTE
from chalicelib.sqs_batches import SEND_BATCH_LIMIT
from localdev.aws.context import CLIENT_CONFIG, Context, DeployError
from localdev.aws.stage_targets import StageTargets
from localdev.backfill import EntryRefused, OutgoingMessage, Pacer, QueueSender
from localdev.progress import ProgressBar

MOVE_TASK, MANUAL = "move-task", "receive-send-delete"
# Finished states of a move task (ListMessageMoveTasks ``Status``).
TASK_DONE = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# Real SQS's answer for a queue it cannot move, and the status of an endpoint without the API.
UNSUPPORTED_CODE, NOT_IMPLEMENTED_STATUS = "UnsupportedOperation", 501
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")
POLL_SECONDS = 5.0
MAX_MOVE_RATE = 500  # StartMessageMoveTask's MaxNumberOfMessagesPerSecond limit
# A finished task no longer lists its handle: it is matched by its DestinationArn and a
# StartedTimestamp no earlier than our start minus 5 minutes (SigV4 refuses requests from a
# clock skewed more, so ours is that close to SQS's).
CLOCK_SKEW_MS = 5 * 60 * 1000
# ListMessageMoveTasks may lag a just-started task: polls without it before giving up.
MAX_POLLS_WITHOUT_TASK = 3
# Long polling for the manual move: an empty receive waits this long before it says "empty".
RECEIVE_WAIT_SECONDS = 1
# The manual move owns a received message this long: ample for a send and a delete.
RECEIVE_VISIBILITY_SECONDS = 60


class DeadLetterQueueEmpty(DeployError):
    """Nothing to redrive."""


class RedriveStopped(DeployError):
    """The move could not go on (a refused message, a task SQS no longer lists)."""


@dataclass
class RedriveResult:
    method: str
    moved: int
    to_move: int
    status: str = "COMPLETED"
    failure: str | None = None


def queue_depth(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def redrive(
    ctx: Context,
    targets: StageTargets,
    rate: int | None = None,
    method: str | None = None,
    sleep=time.sleep,
    clock=time.time,
) -> RedriveResult:
    sqs = ctx.client("sqs")
    depth = queue_depth(sqs, targets.dlq_url)
    if depth == 0:
        raise DeadLetterQueueEmpty(
            f"the dead-letter queue {targets.dlq_url} is empty: nothing to redrive"
        )
    ctx.step(f"Redrive {depth} message(s) from {targets.dlq_arn} to {targets.queue_arn}")
    if method != MANUAL:
        emulated = _endpoint_overridden(sqs)
        try:
            return _move_task(ctx, targets, depth, rate, sleep, clock, emulated)
        except ClientError as error:
            if method == MOVE_TASK or not (emulated or _unsupported(error)):
                raise
            ctx.detail(
                f"StartMessageMoveTask is not available here ({_code(error)}): moving by hand"
            )
    return _move_by_hand(ctx, targets, depth, rate)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _unsupported(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(error) == UNSUPPORTED_CODE or status == NOT_IMPLEMENTED_STATUS


def _endpoint_overridden(sqs) -> bool:
    """An endpoint other than SQS's own (AWS_ENDPOINT_URL and the like: moto, an emulator)."""
    host = urlparse(sqs.meta.endpoint_url).hostname or ""
    return not host.endswith(AWS_HOST_SUFFIXES)


def _starter(ctx: Context, emulated: bool):
    """Against an emulator the probe for the move-task API fails fast: standard retries would
    spend about a minute on an endpoint that will never implement it."""
    if "sqs" in ctx.clients or not emulated:
        return ctx.client("sqs")
    config = CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
    return ctx.session.client("sqs", region_name=ctx.region, config=config)


def _move_task(
    ctx: Context, targets: StageTargets, depth: int, rate, sleep, clock, emulated: bool
) -> RedriveResult:
    request = {"SourceArn": targets.dlq_arn, "DestinationArn": targets.queue_arn}
    if rate:
        request["MaxNumberOfMessagesPerSecond"] = rate
    matcher = _TaskMatcher(targets.queue_arn, int(clock() * 1000) - CLOCK_SKEW_MS)
    matcher.handle = _starter(ctx, emulated).start_message_move_task(**request)["TaskHandle"]
    sqs = ctx.client("sqs")
    progress = ProgressBar("redrive", total=depth, stream=ctx.out)
    polls_without_task = 0
    try:
        while True:
            listed = sqs.list_message_move_tasks(SourceArn=targets.dlq_arn, MaxResults=10)
            task = matcher.find(listed.get("Results", []))
            if task is None:
                polls_without_task += 1
                if polls_without_task > MAX_POLLS_WITHOUT_TASK:
                    raise RedriveStopped(
                        f"the move task {matcher.handle} is not in ListMessageMoveTasks of "
                        f"{targets.dlq_arn}: check the queue's redrive status in the SQS console"
                    )
            else:
                moved = task.get("ApproximateNumberOfMessagesMoved", 0)
                progress.total = task.get("ApproximateNumberOfMessagesToMove") or depth
                progress.update(moved)
                if task["Status"] in TASK_DONE:
                    return RedriveResult(
                        MOVE_TASK, moved, progress.total, task["Status"], task.get("FailureReason")
                    )
            sleep(POLL_SECONDS)
    finally:
        progress.close()


@dataclass
class _TaskMatcher:
    """Finds our task among the source queue's recent ones (newest first, at most 10): by its
    handle while it runs (only a running task carries one), then by the StartedTimestamp seen
    with the handle or, if it finished before the first poll, by its DestinationArn and a start
    no earlier than ours."""

    destination_arn: str
    not_before_ms: int
    handle: str = ""
    started_ms: int | None = None

    def find(self, tasks: list[dict]) -> dict | None:
        for task in tasks:
            if task.get("TaskHandle") == self.handle:
                self.started_ms = task.get("StartedTimestamp")
                return task
        for task in tasks:
            if task.get("DestinationArn") != self.destination_arn:
                continue
            started = task.get("StartedTimestamp")
            if started == self.started_ms or (
                self.started_ms is None and (started or 0) >= self.not_before_ms
            ):
                return task
        return None


def _move_by_hand(ctx: Context, targets: StageTargets, depth: int, rate) -> RedriveResult:
    sqs = ctx.client("sqs")
    sender = QueueSender(sqs, targets.queue_url, Pacer(rate))
    progress = ProgressBar("redrive", total=depth, stream=ctx.out)
    moved = 0
    try:
        while moved < depth:
            messages = sqs.receive_message(
                QueueUrl=targets.dlq_url,
                MaxNumberOfMessages=min(SEND_BATCH_LIMIT, depth - moved),
                WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            try:
                sender.send([_outgoing(message) for message in messages])
            except EntryRefused as error:
                raise RedriveStopped(
                    f"redrive stopped after {moved} message(s), the rest stay in the DLQ: {error}"
                ) from None
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ]
            deleted = sqs.delete_message_batch(QueueUrl=targets.dlq_url, Entries=entries)
            if deleted.get("Failed"):
                # Sent already: the copies left in the DLQ are duplicates, redriven next time.
                ctx.detail(f"{len(deleted['Failed'])} message(s) stay in the DLQ as duplicates")
            moved += len(messages)
            progress.update(moved)
    finally:
        progress.close()
    return RedriveResult(MANUAL, moved, depth)


def _outgoing(message: dict) -> OutgoingMessage:
    """The message to send again, without its throttle redelivery count."""
    attributes = {
        name: value
        for name, value in (message.get("MessageAttributes") or {}).items()
        if name != REDELIVERIES_ATTRIBUTE
    }
    return OutgoingMessage(message["MessageId"], message["Body"], attributes or None)


def report(ctx: Context, result: RedriveResult) -> int:
    ctx.detail(
        f"moved {result.moved} of {result.to_move} message(s) with {result.method}: "
        f"{result.status}" + (f" ({result.failure})" if result.failure else "")
    )
    return 0 if result.status == "COMPLETED" else 1
