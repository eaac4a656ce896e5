"""Does for the local queue what Lambda's SQS event source mapping does in AWS.

It receives up to ``batch_size`` messages, builds the same event Lambda would (distinct
message ids, receipt handles, attributes with ApproximateReceiveCount, the queue's ARN),
invokes the very same Chalice handler, and deletes only the messages that the handler did not
list in ``batchItemFailures``. Failed messages stay in the queue, reappear after the
visibility timeout, and move to the dead-letter queue after the queue's maxReceiveCount,
which the queue's own redrive policy enforces, as in AWS. Like Lambda, it gathers a batch for
up to ``window_seconds`` (MAX_BATCHING_WINDOW_SECONDS) once the first message has arrived.

Lambda scales a mapping to several concurrent invocations (at most its maximum concurrency):
the local stack stands in for that with several of these, one thread each, each handing its
batches to its own copy of the function (``concurrent_pollers`` says how many). They share one
``receive_lock``: moto 5.2's ReceiveMessage is not atomic (two concurrent calls can hand out
the same message, and move one message to the dead-letter queue twice: RuntimeError and
ValueError in moto/sqs/models.py receive_message, seen with 20 pollers), where SQS's is. One
receive at a time costs nothing in a flood, where each call returns at once.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections.abc import Callable

from localdev.background import BackgroundLoop

LOG = logging.getLogger("localdev.poller")
SQS_RECEIVE_LIMIT = 10  # ReceiveMessage returns at most 10 messages per call
SQS_MAX_WAIT_SECONDS = 20  # ReceiveMessage's longest long poll


def concurrent_pollers(requested: int, maximum_concurrency: int | None) -> int:
    """Lambda runs at most the mapping's maximum concurrency of invocations at once."""
    return max(1, min(requested, maximum_concurrency) if maximum_concurrency else requested)


class LocalEventSourceMapping:
    def __init__(
        self,
        sqs_client,
        queue_url: str,
        queue_arn: str,
        handler: Callable[[dict, object], dict | None],
        batch_size: int = 10,
        wait_seconds: int = 1,
        region: str = "us-east-1",
        window_seconds: float = 0,
        name: str = "sqs-poller",
        receive_lock: threading.Lock | None = None,
    ):
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._handler = handler
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._window_seconds = window_seconds
        self._region = region
        self._receive_lock = receive_lock or threading.Lock()
        self._loop = BackgroundLoop(
            self.poll_once, name=name, log=LOG, failure="polling failed; retrying"
        )

    def poll_once(self) -> int:
        """Receive one batch and hand it to the handler; returns how many messages it held."""
        messages = self._receive_batch()
        if not messages:
            return 0
        event = {"Records": [self._record(message) for message in messages]}
        try:
            response = self._handler(event, None) or {}
        except Exception:
            # Lambda retries the whole batch when the function fails: delete nothing.
            LOG.exception("handler failed; the whole batch will be retried")
            return len(messages)
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [message for message in messages if message["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
                    for n, message in enumerate(done)
                ],
            )
        return len(messages)

    def _receive_batch(self) -> list[dict]:
        messages: list[dict] = []
        wait = self._wait_seconds
        window_ends: float | None = None
        while len(messages) < self._batch_size and not self._loop.stopping:
            with self._receive_lock:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, self._batch_size - len(messages)),
                    WaitTimeSeconds=wait,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            received = response.get("Messages", [])
            messages += received
            if not messages:
                break  # nothing within the long poll: ask again from the top
            if window_ends is None:
                window_ends = time.monotonic() + self._window_seconds
            left = window_ends - time.monotonic()
            if not received and left <= 0:
                break
            # Within the window, wait for more; after it, gather only what is already there.
            wait = min(SQS_MAX_WAIT_SECONDS, math.ceil(left)) if left > 0 else 0
        return messages

    def _record(self, message: dict) -> dict:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": _lambda_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }

    # -- background polling -----------------------------------------------------------------

    def start(self) -> LocalEventSourceMapping:
        self._loop.start()
        return self

    def request_stop(self) -> None:
        """Stop after the current receive, without waiting (``stop()`` waits)."""
        self._loop.request_stop()

    def stop(self) -> None:
        self._loop.stop()


def stop_all(mappings: list[LocalEventSourceMapping]) -> None:
    """Stop several at once: each finishes its current long poll in parallel, not in turn."""
    for mapping in mappings:
        mapping.request_stop()
    for mapping in mappings:
        mapping.stop()


def _lambda_attributes(attributes: dict) -> dict:
    """ReceiveMessage's MessageAttributes in the form Lambda's SQS records carry them
    (``stringValue``, ``binaryValue`` as base64, ``dataType``)."""
    converted = {}
    for name, attribute in attributes.items():
        value = {"dataType": attribute["DataType"], "stringListValues": [], "binaryListValues": []}
        if "BinaryValue" in attribute:
            value["binaryValue"] = base64.b64encode(attribute["BinaryValue"]).decode()
        else:
            value["stringValue"] = attribute.get("StringValue")
        converted[name] = value
    return converted
