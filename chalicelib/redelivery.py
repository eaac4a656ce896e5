"""Sends throttled messages back to their queue as new, delayed messages, so that a flood slows
down instead of dead-lettering (only when the stage sets REKOGNITION_TPS).

Why a new message rather than ChangeMessageVisibility on the old one: SQS adds one to a
message's ApproximateReceiveCount on every receive, whatever its visibility timeout, and the
redrive policy moves it to the dead-letter queue after maxReceiveCount receives. A message kept
with a longer visibility would still be dead-lettered after maxReceiveCount throttled attempts;
a copy starts again from zero receives.

Nothing is lost: the original is acknowledged (left out of batchItemFailures) only once
SendMessageBatch has accepted its copy; a copy SQS refuses leaves its original to be retried in
place, as any failure. Nothing is indexed twice: if the copy is sent but the original's
deletion fails, the image is labelled twice at most and the conditional write keeps one
document; an older event that comes back after a newer one is skipped as stale
(documents.supersedes), so the order of events still decides.

The copy carries how often it was sent back (``REDELIVERIES_ATTRIBUTE``); the delay doubles
each time from ``BASE_DELAY_SECONDS`` to SQS's largest DelaySeconds, with jitter so that a
throttled batch does not come back all at once. After ``MAX_REDELIVERIES`` copies a message
is no longer sent back but retried in place like any failure, so that a throttle that never
ends (a quota lowered, a REKOGNITION_TPS set above the account's) reaches the dead-letter queue
and its alarm instead of circling unseen; the Throttled alarm (infra/template.yaml) fires first.
"""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Callable, Mapping
from functools import lru_cache

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.sqs_batches import SEND_BATCH_LIMIT, send_batch

REDELIVERIES_ATTRIBUTE = "throttle-redeliveries"
BASE_DELAY_SECONDS = 2
MAX_DELAY_SECONDS = 900  # SQS's upper bound for DelaySeconds (15 minutes)
# Twelve copies wait 2 + 4 + ... + 512 + 3 x 900 s = 3,722 s at most (31-62 min with jitter):
# a flood has long been absorbed by then; a throttle that outlasts an hour is a setting to fix.
MAX_REDELIVERIES = 12


def delay_seconds(redeliveries: int, jitter: float) -> int:
    """Delay of the ``redeliveries``-th copy (1, 2, ...); ``jitter`` in [0, 1) spreads it over
    the upper half of the doubled delay: 1-2 s, 2-4 s, 4-8 s, ... up to 450-900 s."""
    ceiling = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (redeliveries - 1))
    return min(MAX_DELAY_SECONDS, math.ceil(ceiling / 2 + jitter * ceiling / 2))


def redeliveries_of(record: Mapping) -> int:
    """How often this message was already sent back (0 for an S3 notification)."""
    attribute = (record.get("messageAttributes") or {}).get(REDELIVERIES_ATTRIBUTE) or {}
    try:
        return int(attribute.get("stringValue", 0))
    except (TypeError, ValueError):
        return 0


class ThrottledRedelivery:
    def __init__(self, sqs_client, jitter: Callable[[], float] = random.random):
        self._sqs = sqs_client
        self._jitter = jitter
        self._queue_url = lru_cache(maxsize=8)(self._look_up_queue_url)

    def redeliver(self, records: list[Mapping]) -> list[str]:
        """Send a delayed copy of each record to its queue; returns the ids of the messages
        to retry in place: those sent back ``MAX_REDELIVERIES`` times already, and those whose
        copy was not accepted."""
        not_sent: list[str] = []
        by_queue: dict[str, list[Mapping]] = {}
        for record in records:
            if redeliveries_of(record) >= MAX_REDELIVERIES:
                not_sent.append(record["messageId"])
                continue
            by_queue.setdefault(record["eventSourceARN"], []).append(record)
        for queue_arn, queued in by_queue.items():
            for start in range(0, len(queued), SEND_BATCH_LIMIT):
                not_sent += self._send(queue_arn, queued[start : start + SEND_BATCH_LIMIT])
        return not_sent

    def _send(self, queue_arn: str, records: list[Mapping]) -> list[str]:
        entries = [self._entry(str(n), record) for n, record in enumerate(records)]
        try:
            # One attempt: a copy SQS fails leaves its original to be retried in place.
            outcome = send_batch(self._sqs, self._queue_url(queue_arn), entries)
        except (BotoCoreError, ClientError):
            return [record["messageId"] for record in records]
        refused = {int(failure["Id"]) for failure in outcome.failed}
        return [records[n]["messageId"] for n in sorted(refused)]

    def _entry(self, entry_id: str, record: Mapping) -> dict:
        redeliveries = redeliveries_of(record) + 1
        attributes = _sqs_attributes(record.get("messageAttributes") or {})
        attributes[REDELIVERIES_ATTRIBUTE] = {
            "DataType": "Number",
            "StringValue": str(redeliveries),
        }
        return {
            "Id": entry_id,
            "MessageBody": record["body"],
            "DelaySeconds": delay_seconds(redeliveries, self._jitter()),
            "MessageAttributes": attributes,
        }

    def _look_up_queue_url(self, queue_arn: str) -> str:
        # arn:<partition>:sqs:<region>:<account>:<name>; the URL's form differs by partition
        # and endpoint, so SQS is asked for it (once per queue and execution environment).
        _, _, _, _, account, name = queue_arn.split(":", 5)
        return self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def _sqs_attributes(lambda_attributes: Mapping) -> dict[str, dict]:
    """Lambda's record form (``stringValue``, base64 ``binaryValue``) back to SendMessage's."""
    converted = {}
    for name, attribute in lambda_attributes.items():
        if name == REDELIVERIES_ATTRIBUTE:
            continue
        data_type = attribute.get("dataType", "String")
        if attribute.get("binaryValue") is not None:
            value = {"BinaryValue": base64.b64decode(attribute["binaryValue"])}
        else:
            value = {"StringValue": attribute.get("stringValue", "")}
        converted[name] = {"DataType": data_type, **value}
    return converted
