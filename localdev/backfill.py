"""Enqueue one synthetic S3 event per image already in a bucket, for millions of objects.

* The bucket is listed a page (1,000 keys) at a time with the ListObjectsV2 paginator, in key
  order, so memory stays flat and ``--start-after KEY`` resumes exactly after a key.
* Messages go out ten per ``SendMessageBatch`` (SQS's limit), at most ``rate`` per second.
  SQS answers a batch per entry: entries in ``Failed`` are sent again (with backoff) until each
  one is in the queue, and a batch is complete before the next is started, so the last key of
  the last complete batch is a checkpoint: every key up to it is queued.
  The sending itself is chalicelib/sqs_batches.py's, which the function's redelivery shares.
* A dry run lists without sending: objects, eligible images and their bytes.
* Both warn when the eligible images, at the rate, take longer than the queue keeps a message.

Sending a key twice (after a resume) is harmless: the copy has the same event position, which
the store treats as "nothing newer" (chalicelib/documents.py ``supersedes``).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO
from urllib.parse import quote_plus

from chalicelib.eligibility import skip_reason
from chalicelib.events import CREATED, ObjectEvent
from chalicelib.sqs_batches import SEND_BATCH_LIMIT, Retries, send_batch
from chalicelib.timestamps import canonical_time
from localdev.progress import ProgressBar

LIST_PAGE_SIZE = 1000  # ListObjectsV2's maximum
BACKFILL_EVENT = "ObjectCreated:Backfill"
# Retries of one entry that SQS failed on its side (SenderFault false: throttling, internal
# errors): 8 attempts with doubling backoff from 50 ms, capped at 5 s, wait about 11 s in all,
# well past a throttling burst; after that the backfill stops at its checkpoint.
SEND_RETRIES = Retries(attempts=8, first_backoff_seconds=0.05, max_backoff_seconds=5.0)
# Without --rate, the send rate is measured over this long before the retention is checked.
MEASURE_SECONDS = 5.0


class BackfillError(Exception):
    """The backfill stopped; ``checkpoint`` is the last key up to which everything was queued."""

    def __init__(self, message: str, checkpoint: str | None):
        super().__init__(message)
        self.checkpoint = checkpoint


class EntryRefused(Exception):
    """SQS refused an entry for a reason retrying cannot change (SenderFault), or kept failing
    it after every retry."""


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to enqueue and the key it stands for (for the checkpoint)."""

    key: str
    body: str
    attributes: dict | None = None  # SQS MessageAttributes, as ReceiveMessage returns them


@dataclass
class Census:
    """What a dry run counts."""

    objects: int = 0
    eligible: int = 0
    eligible_bytes: int = 0
    last_key: str | None = None


@dataclass
class BackfillResult:
    sent: int = 0
    skipped: int = 0  # listed but not images Rekognition can take
    last_key: str | None = None  # checkpoint: every key up to this one is queued
    retried_entries: int = 0


# -- listing ----------------------------------------------------------------------------------


def list_pages(
    s3, bucket: str, prefix: str = "", start_after: str | None = None
) -> Iterator[list[ListedObject]]:
    """The objects under ``prefix`` in key order, a page at a time, after ``start_after``."""
    request = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        request["StartAfter"] = start_after
    pages = s3.get_paginator("list_objects_v2").paginate(
        **request, PaginationConfig={"PageSize": LIST_PAGE_SIZE}
    )
    for page in pages:
        yield [
            ListedObject(obj["Key"], obj["Size"], obj["ETag"], obj["LastModified"])
            for obj in page.get("Contents", [])
        ]


def list_objects(
    s3, bucket: str, prefix: str = "", start_after: str | None = None
) -> Iterator[ListedObject]:
    for page in list_pages(s3, bucket, prefix, start_after):
        yield from page


def created_event(bucket: str, obj: ListedObject, region: str) -> ObjectEvent:
    """The event S3 would have sent for ``obj``: no sequencer, so it orders by LastModified and
    never overrides a state that a real event produced."""
    return ObjectEvent(
        action=CREATED,
        bucket=bucket,
        key=obj.key,
        event_name=BACKFILL_EVENT,
        event_time=canonical_time(obj.last_modified.astimezone(UTC)),
        region=region,
        size=obj.size,
        etag=obj.etag,
        version_id=None,
        sequencer=None,
    )


def notification_body(event: ObjectEvent) -> str:
    """``event`` as the S3 event notification the function reads (chalicelib/events.py)."""
    obj = {"key": quote_plus(event.key), "size": event.size, "eTag": event.etag}
    if event.version_id:
        obj["versionId"] = event.version_id
    if event.sequencer:
        obj["sequencer"] = event.sequencer
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": event.region,
        "eventTime": event.event_time,
        "eventName": event.event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": event.bucket, "arn": f"arn:aws:s3:::{event.bucket}"},
            "object": obj,
        },
    }
    return json.dumps({"Records": [record]})


def census(objects: Iterable[ListedObject], bucket: str) -> Census:
    counted = Census()
    for obj in objects:
        counted.objects += 1
        counted.last_key = obj.key
        if skip_reason(created_event(bucket, obj, "")) is None:
            counted.eligible += 1
            counted.eligible_bytes += obj.size
    return counted


@dataclass(frozen=True)
class _End:
    error: BaseException | None = None


def read_ahead(items: Iterable, limit: int = 2) -> Iterator:
    """``items``, produced by a thread up to ``limit`` ahead: the next listing pages are fetched
    while the current one is being sent, instead of in turn with it. An error of the producer
    is raised here, after the items it produced before it."""
    buffer: queue.Queue = queue.Queue(maxsize=limit)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the consumer is gone

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_End())
        except BaseException as error:  # handed to the consumer, which raises it
            put(_End(error))

    threading.Thread(target=produce, name="backfill-listing", daemon=True).start()
    try:
        while not isinstance(item := buffer.get(), _End):
            yield item
        if item.error is not None:
            raise item.error
    finally:
        stop.set()


# -- sending ----------------------------------------------------------------------------------


class Pacer:
    """At most ``rate`` messages per second on average, no burst above one batch."""

    def __init__(self, rate: float | None, clock=time.monotonic, sleep=time.sleep):
        self._interval = 1.0 / rate if rate else 0.0
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def wait_for(self, messages: int) -> None:
        if not self._interval:
            return
        now = self._clock()
        if self._next is None or self._next < now:
            self._next = now
        elif self._next > now:
            self._sleep(self._next - now)
        self._next += messages * self._interval


@dataclass
class QueueSender:
    """Sends messages ten per SendMessageBatch call; never returns with an entry unsent."""

    sqs: object
    queue_url: str
    pacer: Pacer = field(default_factory=lambda: Pacer(None))
    sleep: Callable[[float], None] = time.sleep
    retried_entries: int = 0

    def send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Queue at most ten messages; raises EntryRefused when one cannot be queued."""
        self.pacer.wait_for(len(messages))
        entries = [_entry(str(index), message) for index, message in enumerate(messages)]
        outcome = send_batch(self.sqs, self.queue_url, entries, SEND_RETRIES, self.sleep)
        self.retried_entries += outcome.resent_entries
        if outcome.failed:
            failure = outcome.failed[0]
            refusal = _refusal(messages[int(failure["Id"])], failure)
            if not failure.get("SenderFault"):
                refusal += f" (still failing after {SEND_RETRIES.attempts} attempts)"
            raise EntryRefused(refusal)


def _entry(id_: str, message: OutgoingMessage) -> dict:
    entry: dict[str, object] = {"Id": id_, "MessageBody": message.body}
    if message.attributes:
        entry["MessageAttributes"] = message.attributes
    return entry


def _refusal(message: OutgoingMessage, failure: dict) -> str:
    return f"SQS refused the message for {message.key!r}: {failure['Code']}: " + failure.get(
        "Message", ""
    )


def queue_retention(sqs, queue_url: str) -> timedelta:
    """How long the queue keeps a message (its MessageRetentionPeriod)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["MessageRetentionPeriod"]
    )["Attributes"]
    return timedelta(seconds=int(attributes["MessageRetentionPeriod"]))


def retention_warning(eligible: int, rate: float, retention: timedelta) -> str | None:
    """A warning when enqueueing ``eligible`` images at ``rate`` per second takes longer than
    the queue keeps a message: if the function falls behind, the first ones expire unindexed."""
    duration = timedelta(seconds=round(eligible / rate))
    if duration <= retention:
        return None
    return (
        f"warning: {eligible:,} images at {rate:,.1f}/s take {duration}, longer than the "
        f"queue's retention ({retention}): messages can expire before they are indexed; "
        "backfill it in parts (--prefix, or stop and --start-after later) or raise the "
        "queue's retention"
    )


class RetentionWatch:
    """Warns once during a run, as soon as the total is counted: at ``rate`` if one is set,
    else at the rate measured over at least MEASURE_SECONDS."""

    def __init__(
        self,
        retention: timedelta,
        rate: float | None,
        stream: TextIO | None = None,
        clock=time.monotonic,
    ):
        self._retention, self._rate = retention, rate
        self._stream = stream or sys.stderr
        self._clock = clock
        self._started = clock()
        self._done = False

    def check(self, total: int | None, sent: int) -> None:
        elapsed = self._clock() - self._started
        if self._done or total is None or not (self._rate or elapsed >= MEASURE_SECONDS):
            return
        self._done = True
        rate = self._rate or sent / elapsed
        warning = retention_warning(total, rate, self._retention) if rate > 0 else None
        if warning:
            self._stream.write(f"\n{warning}\n")
            self._stream.flush()


def send_all(
    messages: Iterable[OutgoingMessage],
    sender: QueueSender,
    progress: ProgressBar,
    watch: RetentionWatch | None = None,
) -> BackfillResult:
    """Send every message in order; on any error raise BackfillError with the checkpoint."""
    result = BackfillResult()
    batch: list[OutgoingMessage] = []

    def flush() -> None:
        sender.send(batch)
        result.sent += len(batch)
        result.last_key = batch[-1].key
        result.retried_entries = sender.retried_entries
        progress.update(result.sent, result.last_key)
        if watch:
            watch.check(progress.total, result.sent)
        batch.clear()

    try:
        for message in messages:
            batch.append(message)
            if len(batch) == SEND_BATCH_LIMIT:
                flush()
        if batch:
            flush()
    except (Exception, KeyboardInterrupt) as error:
        progress.close()
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        raise BackfillError(reason, result.last_key) from error
    progress.close()
    return result


# -- the command ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillRequest:
    bucket: str
    queue_url: str
    prefix: str = ""
    start_after: str | None = None
    rate: float | None = None  # messages per second; None: as fast as SQS takes them
    count_first: bool = True  # list once more, beside the sending, to count for the ETA
    retention: timedelta | None = None  # the queue's, to warn when the run would outlast it


def backfill(
    request: BackfillRequest, s3, sqs, stream: TextIO | None = None, sleep=time.sleep
) -> BackfillResult:
    """Enqueue an event per eligible image of ``request``; raises BackfillError on a stop."""
    region = s3.meta.region_name
    progress = ProgressBar("backfill", stream=stream)
    if request.count_first:
        count_in_background(request, s3, progress)
    skipped = 0

    def messages() -> Iterator[OutgoingMessage]:
        nonlocal skipped
        pages = list_pages(s3, request.bucket, request.prefix, request.start_after)
        for page in read_ahead(pages):
            for obj in page:
                event = created_event(request.bucket, obj, region)
                if skip_reason(event):
                    skipped += 1
                    continue
                yield OutgoingMessage(obj.key, notification_body(event))

    sender = QueueSender(sqs, request.queue_url, Pacer(request.rate, sleep=sleep), sleep=sleep)
    watch = RetentionWatch(request.retention, request.rate, stream) if request.retention else None
    result = send_all(messages(), sender, progress, watch)
    result.skipped = skipped
    return result


def count_in_background(request: BackfillRequest, s3, progress: ProgressBar) -> None:
    """Count the eligible images beside the sending (one more listing, 1,000 keys a call: for a
    million objects about 1,000 calls, while sending them takes 100,000), for the ETA. A count
    that fails only leaves the ETA out."""

    def count() -> None:
        listed = list_objects(s3, request.bucket, request.prefix, request.start_after)
        try:
            progress.total = census(listed, request.bucket).eligible
        except Exception:  # the ETA is optional; the sending reports the real errors
            return

    threading.Thread(target=count, name="backfill-count", daemon=True).start()
