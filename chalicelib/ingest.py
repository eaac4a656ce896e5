"""Turns one batch of SQS messages into labelled documents in the store.

The contract with Lambda's SQS event source: the returned message ids are exactly the messages
that must be delivered again (and, after the queue's maxReceiveCount, end in its dead-letter
queue). Everything else is acknowledged: indexed, deleted, or skipped with a logged reason.

One message never fails another. Whatever goes wrong while reading, checking, labelling or
building the work of one message (a malformed body, and any unexpected exception as well)
fails that message alone, logged with its evidence; only a store that cannot answer fails
every message, because then none of them can be written.

The steps, each on the work that is still pending:

1. read each message into object events; skip (with a reason) events that need no work and
   events for another bucket than the stage's;
2. resolve events for the same image within the batch: only the newest is worked on;
3. skip events older than the stored state (one read for the batch);
4. skip objects Rekognition cannot take, then label the rest concurrently;
5. build each document, then write them all in one request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from chalicelib import documents
from chalicelib.call_timing import WallTimer
from chalicelib.eligibility import skip_reason
from chalicelib.events import CREATED, IgnoredEvent, MalformedMessage, ObjectEvent, read_message
from chalicelib.late_events import LateEventCheck, LateEventCheckFailed
from chalicelib.metrics import BatchFigures, BatchMetrics, oldest_message_age_seconds
from chalicelib.redelivery import ThrottledRedelivery
from chalicelib.rekognition import (
    ImageAnalysis,
    RekognitionLabeler,
    RekognitionThrottled,
    UnprocessableImage,
)
from chalicelib.store.base import ImageStore, ImageWrite, StoreUnavailable
from chalicelib.vocabulary import EventPosition, Outcome, StoredDocument, WriteStatus

# How much of a failed message's body its log line quotes: a whole S3 notification (about a
# kilobyte) fits, a pathological body is cut.
EVIDENCE_CHARS = 2000


class BatchItemFailure(TypedDict):
    itemIdentifier: str  # the SQS message id


class PartialItemFailureResponse(TypedDict):
    """What the handler returns to Lambda's SQS event source (ReportBatchItemFailures), as
    Powertools names it: the messages listed are delivered again, the others deleted."""

    batchItemFailures: list[BatchItemFailure]


class BatchNotFullyProcessed(Exception):
    """Raised instead of returning batchItemFailures when partial responses are switched off."""


@dataclass
class _Work:
    """One object event of one message, and what became of it."""

    message_id: str
    event: ObjectEvent
    image_id: str
    analysis: ImageAnalysis | None = None
    document: StoredDocument | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    rekognition_ms: float | None = None  # the labeler's time for this image, when called
    throttled: bool = False  # the labeler's answer was a throttling error

    @property
    def pending(self) -> bool:
        return self.outcome is None

    @property
    def position(self) -> EventPosition:
        """Where the event stands in its key's order."""
        return EventPosition(self.event.sequencer, self.event.event_time)

    @property
    def image_write(self) -> ImageWrite:
        """The write of the built document (every item still pending after _build_all has one)."""
        if self.document is None:
            raise RuntimeError(f"no document was built for image {self.image_id}")
        return ImageWrite(self.image_id, self.document)

    def finish(self, outcome: Outcome, reason: str | None = None) -> None:
        self.outcome, self.reason = outcome, reason


class BatchIngestor:
    def __init__(
        self,
        labeler: RekognitionLabeler,
        store: ImageStore,
        executor: Executor,
        region: str,
        logger: logging.Logger,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        image_bucket: str | None = None,
        metrics: BatchMetrics | None = None,
        redelivery: ThrottledRedelivery | None = None,
        late_events: LateEventCheck | None = None,
        call_timer: WallTimer | None = None,
        partial_batch_response: bool = True,
    ):
        self._labeler = labeler
        self._store = store
        self._executor = executor
        self._region = region
        self._log = logger
        self._clock = clock
        self._image_bucket = image_bucket
        self._metrics = metrics
        self._redelivery = redelivery
        self._late_events = late_events
        # Rekognition's own time per image (chalicelib/call_timing.py), for RekognitionLatency.
        self._call_timer = call_timer or WallTimer()
        # PARTIAL_BATCH_RESPONSE: false when the event source mapping does not report item
        # failures, which would then read any answer as success and delete every message.
        self._partial_batch_response = partial_batch_response

    def handle(self, records: Iterable[Mapping]) -> PartialItemFailureResponse:
        """The SQS handler's answer for one batch: the messages to retry, or, without partial
        responses, an exception that retries the whole batch when any message failed."""
        failed = self.process(records)
        if failed and not self._partial_batch_response:
            raise BatchNotFullyProcessed(f"{len(failed)} messages failed: {failed}")
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    def process(self, records: Iterable[Mapping]) -> list[str]:
        """Handle one batch of Lambda SQS records; return the ids of messages to retry."""
        records = list(records)
        work: list[_Work] = []
        failed: set[str] = set()
        for record in records:
            message_id = record["messageId"]
            try:
                work.extend(self._read(message_id, record.get("body")))
            except MalformedMessage as error:
                failed.add(message_id)
                self._log_failed_message(message_id, f"malformed message: {error}", record)
            except Exception as error:  # an unforeseen poison message fails alone
                failed.add(message_id)
                reason = f"unexpected {type(error).__name__} reading the message: {error}"
                self._log_failed_message(message_id, reason, record, exc_info=True)

        self._resolve_within_batch([item for item in work if item.pending])
        self._skip_stale([item for item in work if item.pending])
        self._label_all([item for item in work if item.pending and item.event.action == CREATED])
        self._build_all([item for item in work if item.pending])
        self._store_all([item for item in work if item.pending])

        for item in work:
            self._log_work(item)
            if item.outcome == Outcome.FAILED:
                failed.add(item.message_id)
        failed |= self._send_back_throttled(records, work, failed)
        if self._metrics:
            self._metrics.publish(self._figures(records, work, failed))
        # Keep the order of the batch, which makes logs and tests easier to read.
        return [record["messageId"] for record in records if record["messageId"] in failed]

    # -- 1. reading ---------------------------------------------------------------------------

    def _read(self, message_id: str, body: Any) -> list[_Work]:
        """The work of one message; raises for a message that must fail (nothing of it runs)."""
        if not isinstance(body, str):
            raise MalformedMessage(f"the body is {type(body).__name__}, not text")
        message = read_message(body)
        items = [
            _Work(message_id, event, documents.image_id(event.bucket, event.key))
            for event in message.events
        ]
        for ignored in message.ignored:
            self._log_ignored(message_id, ignored)
        for item in items:
            if self._image_bucket and item.event.bucket != self._image_bucket:
                item.finish(
                    Outcome.SKIPPED,
                    f"bucket {item.event.bucket!r} is not this stage's image bucket "
                    f"{self._image_bucket!r} (IMAGE_BUCKET)",
                )
        return items

    # -- 2. and 3. ordering ---------------------------------------------------------------------

    def _resolve_within_batch(self, items: list[_Work]) -> None:
        """Only the newest event of each image in the batch is worked on: a put followed by its
        delete (or a newer put) costs no Rekognition call. An older event is acknowledged even
        if the newer one fails later: retrying the newer one alone reaches the same state."""
        newest: dict[str, _Work] = {}
        for item in items:
            current = newest.get(item.image_id)
            if current is None:
                newest[item.image_id] = item
            elif item.position.is_after(current.position):
                current.finish(Outcome.SKIPPED, _superseded_by(item))
                newest[item.image_id] = item
            else:  # older, or the same event delivered twice in one batch
                item.finish(Outcome.SKIPPED, _superseded_by(current))

    def _skip_stale(self, items: list[_Work]) -> None:
        """Skip events that the store already holds a newer state for, before paying Rekognition.

        Redelivered and late events are common (SQS delivers at least once; a failed batch is
        retried whole), and each would otherwise cost a Rekognition call whose result the store
        then refuses. When the store cannot answer, nothing can be written either: the batch
        fails now, without calling Rekognition, and is retried later.
        """
        if not items:
            return
        try:
            stored = self._store.stored_positions(sorted({item.image_id for item in items}))
        except StoreUnavailable as error:
            for item in items:
                item.finish(Outcome.FAILED, f"search store unavailable: {error}")
            return
        unknown = []
        for item in items:
            current = stored.get(item.image_id)
            if current and not item.position.is_after(EventPosition.of(current)):
                item.finish(
                    Outcome.SKIPPED, "stale event: a newer or equal state is already stored"
                )
            elif current is None:
                unknown.append(item)
        self._check_late(unknown)

    def _check_late(self, items: list[_Work]) -> None:
        """A create older than the tombstone horizon may have lost its tombstone to compact:
        it is indexed only if S3 still serves that object (chalicelib/late_events.py). A
        backfill's events are mostly that old: their HeadObject calls run side by side."""
        if self._late_events is None:
            return
        late = [item for item in items if self._late_events.needs_check(item.event)]
        for item, result in zip(late, self._executor.map(self._late_reason, late), strict=True):
            if isinstance(result, LateEventCheckFailed):
                item.finish(Outcome.FAILED, str(result))
            elif result:
                item.finish(Outcome.SKIPPED, result)

    def _late_reason(self, item: _Work) -> str | LateEventCheckFailed | None:
        assert self._late_events is not None  # _check_late runs only with a check
        try:
            return self._late_events.skip_reason(item.event)
        except LateEventCheckFailed as error:  # fails this message alone
            return error

    # -- 4. labelling ---------------------------------------------------------------------------

    def _label_all(self, items: list[_Work]) -> None:
        for item in items:
            reason = skip_reason(item.event)
            if reason:
                item.finish(Outcome.SKIPPED, reason)
        to_label = [item for item in items if item.pending]
        # Rekognition calls dominate the batch's time: run them side by side in a bounded pool.
        for item, result in zip(to_label, self._executor.map(self._analyze, to_label), strict=True):
            if isinstance(result, ImageAnalysis):
                item.analysis = result
            elif isinstance(result, UnprocessableImage):
                item.finish(Outcome.SKIPPED, result.reason)
            elif isinstance(result, RekognitionThrottled):
                item.throttled = True
                item.finish(Outcome.THROTTLED, result.reason)
            else:
                item.finish(Outcome.FAILED, f"Rekognition error: {type(result).__name__}: {result}")

    def _analyze(self, item: _Work) -> ImageAnalysis | Exception:
        event = item.event
        self._call_timer.reset()
        try:
            return self._labeler.analyze(event.bucket, event.key, event.version_id)
        except Exception as error:  # reported per message, never fails the whole batch
            return error
        finally:
            item.rekognition_ms = self._call_timer.seconds() * 1000

    # -- 5. documents and the write -------------------------------------------------------------

    def _build_all(self, items: list[_Work]) -> None:
        now = self._clock()
        for item in items:
            try:
                document = (
                    documents.image_document(item.event, item.analysis, self._region, now)
                    if item.analysis
                    else documents.tombstone(item.event, now)
                )
                item.document = documents.storable(document)
            except Exception as error:  # a labeler answer the builder cannot use fails alone
                item.finish(
                    Outcome.FAILED, f"cannot build the document: {type(error).__name__}: {error}"
                )
                self._log.warning(
                    "document not built",
                    exc_info=True,
                    extra={"message_id": item.message_id, "image_id": item.image_id},
                )

    def _store_all(self, items: list[_Work]) -> None:
        if not items:
            return
        writes = [item.image_write for item in items]
        try:
            results = self._store.write(writes)
        except StoreUnavailable as error:
            for item in items:
                item.finish(Outcome.FAILED, f"search store unavailable: {error}")
            return
        except Exception:
            # The store promises per-item results; if one item still makes it raise, find that
            # item by writing each alone rather than failing its neighbours with it. When every
            # item raises alone as well, the store itself is broken (an unsupported engine,
            # say): that fails the batch loudly, like an outage.
            self._log.warning("batch write raised; writing one image at a time", exc_info=True)
            raised = [item for item in items if not self._store_one(item)]
            if len(items) > 1 and len(raised) == len(items):
                raise
            return
        for item, result in zip(items, results, strict=True):
            self._apply(item, result.status, result.reason)

    def _store_one(self, item: _Work) -> bool:
        """Write one image; False when the store raised (the item is then Outcome.FAILED)."""
        try:
            [result] = self._store.write([item.image_write])
        except Exception as error:
            item.finish(Outcome.FAILED, f"store error: {type(error).__name__}: {error}")
            return False
        self._apply(item, result.status, result.reason)
        return True

    @staticmethod
    def _apply(item: _Work, status: WriteStatus, reason: str | None) -> None:
        if status == WriteStatus.FAILED:
            item.finish(Outcome.FAILED, reason)
        elif status == WriteStatus.STALE:
            item.finish(Outcome.SKIPPED, f"stale event: {reason}")
        else:
            item.finish(Outcome.INDEXED if item.analysis else Outcome.DELETED)

    # -- throttling -------------------------------------------------------------------------------

    def _send_back_throttled(
        self, records: list[Mapping], work: list[_Work], failed: set[str]
    ) -> set[str]:
        """The ids to retry among messages held up only by throttling: with a redelivery (the
        stage sets REKOGNITION_TPS) each goes back as a delayed copy and is acknowledged,
        which keeps it from counting toward maxReceiveCount; without one, or when its copy is
        refused, it is retried in place like any failure."""
        throttled = {item.message_id for item in work if item.outcome == Outcome.THROTTLED} - failed
        if not throttled or self._redelivery is None:
            return throttled
        held_up = [record for record in records if record["messageId"] in throttled]
        return set(self._redelivery.redeliver(held_up))

    # -- metrics ----------------------------------------------------------------------------------

    def _figures(self, records: list[Mapping], work: list[_Work], failed: set[str]) -> BatchFigures:
        outcomes = [item.outcome for item in work]
        return BatchFigures(
            messages=len(records),
            indexed=outcomes.count(Outcome.INDEXED),
            deleted=outcomes.count(Outcome.DELETED),
            skipped=outcomes.count(Outcome.SKIPPED),
            failed=len(failed),
            throttled=sum(item.throttled for item in work),
            rekognition_ms=[
                item.rekognition_ms for item in work if item.rekognition_ms is not None
            ],
            oldest_message_age_seconds=oldest_message_age_seconds(
                records, self._clock().timestamp() * 1000
            ),
        )

    # -- logs -------------------------------------------------------------------------------------

    def _log_failed_message(
        self, message_id: str, reason: str, record: Mapping, exc_info: bool = False
    ) -> None:
        body = record.get("body")
        # repr: quotes control characters and lone surrogates instead of writing them raw.
        evidence = repr(body[:EVIDENCE_CHARS] if isinstance(body, str) else body)[:EVIDENCE_CHARS]
        self._log.warning(
            f"message {Outcome.FAILED}",
            exc_info=exc_info,
            extra={
                "outcome": Outcome.FAILED,
                "reason": reason,
                "message_id": message_id,
                "body_excerpt": evidence,
                "body_length": len(body) if isinstance(body, str) else None,
                "receive_count": (record.get("attributes") or {}).get("ApproximateReceiveCount"),
            },
        )

    def _log_ignored(self, message_id: str, ignored: IgnoredEvent) -> None:
        self._log.info(
            f"event {Outcome.SKIPPED}",
            extra={
                "outcome": Outcome.SKIPPED,
                "reason": ignored.reason,
                "message_id": message_id,
                "event_name": ignored.event_name,
                "bucket": ignored.bucket,
                "key": ignored.key,
            },
        )

    def _log_work(self, item: _Work) -> None:
        event = item.event
        self._log.log(
            logging.WARNING
            if item.outcome in (Outcome.FAILED, Outcome.THROTTLED)
            else logging.INFO,
            f"image {item.outcome}",
            extra={
                "outcome": item.outcome,
                "reason": item.reason,
                "message_id": item.message_id,
                "bucket": event.bucket,
                "key": event.key,
                "event_name": event.event_name,
                "image_id": item.image_id,
                "labels": [label["name"] for label in item.analysis.labels]
                if item.analysis and item.outcome == Outcome.INDEXED
                else None,
            },
        )


def _superseded_by(newer: _Work) -> str:
    return (
        "stale event: the same object has a newer or equal event in this batch "
        f"({newer.event.event_name}, message {newer.message_id})"
    )
