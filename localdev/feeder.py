"""Holds a flood's backlog for the local queue: a stand-in for SQS's deep queue, which moto's
cannot be.

moto 5.2's SQS walks the whole queue in nearly every call: SendMessage reads the queue's
attributes, three of which count its messages; ReceiveMessage lists every visible message;
DeleteMessage walks the queue once or twice per receipt handle (moto/sqs/models.py
``Queue.attributes``, ``Queue.messages``, ``Queue.delete_message``). With 3,000 messages queued
the local pollers drained about 5 images/s and an upload slowed from 46 to 11 puts/s (measured
2026-12-02), whatever the function did. SQS's cost does not grow with the depth, and Lambda's
pollers see a deep queue as one that always has a batch for them.

So for a flood the bucket notifies a staging queue, which the feeder empties as the
notifications arrive (ten per ReceiveMessage) into its backlog, in order; and whenever fewer
than ``target`` messages are visible in the function's queue it sends the next ones from the
backlog there (ten per SendMessageBatch). Both moto queues stay a few hundred messages deep at
most, the pollers never starve, and the flood waits in the backlog as it would in SQS.

The function's queue keeps its redrive policy (maxReceiveCount and the dead-letter queue), and
throttled copies (chalicelib/redelivery.py) go to it directly, as in AWS. A message SQS refuses
stays at the head of the backlog for the next round.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from localdev.background import BackgroundLoop

LOG = logging.getLogger("localdev.feeder")
SQS_BATCH_LIMIT = 10  # ReceiveMessage and SendMessageBatch take at most 10 messages
# Receives from staging per round, so that an upload still in progress cannot hold back the
# top-up of the function's queue: 100 messages, a few tens of milliseconds.
STAGED_RECEIVES_PER_ROUND = 10
IDLE_SECONDS = 0.05  # between rounds while there is nothing to move: 20 rounds a second


class QueueFeeder:
    def __init__(self, sqs_client, staging_url: str, queue_url: str, target: int = 0):
        self._sqs = sqs_client
        self._staging_url = staging_url
        self._queue_url = queue_url
        self.target = target  # 0 holds everything back (the pollers have not started)
        self._backlog: deque[dict] = deque()
        self._sending = 0  # popped from the backlog, not yet accepted by SendMessageBatch
        self.taken = 0  # messages taken from staging so far, for an uploader's backpressure
        self._lock = threading.Lock()
        self._loop = BackgroundLoop(
            self.feed_once,
            name="sqs-feeder",
            log=LOG,
            failure="feeding the queue failed; retrying",
            idle_seconds=IDLE_SECONDS,
        )

    @property
    def backlog(self) -> int:
        """Messages taken from staging and not yet in the function's queue."""
        with self._lock:
            return len(self._backlog) + self._sending

    def feed_once(self) -> int:
        """One round: empty staging into the backlog, then top the queue up to ``target``;
        returns how many messages moved."""
        moved = 0
        for _ in range(STAGED_RECEIVES_PER_ROUND):
            taken = self._take_staged()
            moved += taken
            if not taken:
                break
        missing = self.target - self._visible() if self.target and self.backlog else 0
        while missing > 0 and not self._loop.stopping:
            sent = self._send(min(SQS_BATCH_LIMIT, missing))
            if not sent:
                break
            moved += sent
            missing -= sent
        return moved

    def _take_staged(self) -> int:
        messages = self._sqs.receive_message(
            QueueUrl=self._staging_url,
            MaxNumberOfMessages=SQS_BATCH_LIMIT,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return 0
        with self._lock:
            # SendMessageBatch entries without their Id; SQS refuses empty MessageAttributes.
            self._backlog.extend(
                {"MessageBody": m["Body"]}
                | (
                    {"MessageAttributes": m["MessageAttributes"]}
                    if m.get("MessageAttributes")
                    else {}
                )
                for m in messages
            )
            self.taken += len(messages)
        self._sqs.delete_message_batch(
            QueueUrl=self._staging_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )
        return len(messages)

    def _visible(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def _send(self, count: int) -> int:
        with self._lock:
            batch = [self._backlog.popleft() for _ in range(min(count, len(self._backlog)))]
            self._sending = len(batch)
        if not batch:
            return 0
        entries = [{"Id": str(n), **message} for n, message in enumerate(batch)]
        refused = list(range(len(batch)))  # all of them, should the call raise
        try:
            response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            refused = sorted(int(failure["Id"]) for failure in response.get("Failed", []))
        finally:
            with self._lock:
                self._backlog.extendleft(batch[n] for n in reversed(refused))
                self._sending = 0
        return len(batch) - len(refused)

    # -- background feeding ---------------------------------------------------------------------

    def start(self) -> QueueFeeder:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()
